"""Packaging: the systemd unit and the man page are valid, and the man page documents every
option and configuration key that `hotdog --help` prints, so it cannot silently go stale; the
generated references doc/configuration.md and doc/metrics.md are what `make docs` makes of the
tables in the source today.

No Kafka and no running daemon: these tests only run `hotdog --help`, docgen and the checkers
(systemd-analyze, mandoc, groff, man), which scripts/install-deps installs.
"""
import difflib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import HOTDOG, ROOT

UNIT = ROOT / "contrib" / "hotdog.service"
MANPAGE = ROOT / "doc" / "hotdog.1"
INSTALLED_EXEC = "/usr/local/bin/hotdog"  # ExecStart= in the unit assumes PREFIX=/usr/local


def need(tool):
    path = shutil.which(tool)
    assert path, f"{tool} is missing: run scripts/install-deps"
    return path


def run(cmd, **kw):
    env = dict(os.environ, LC_ALL="C.UTF-8", **kw.pop("env", {}))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, **kw)


# ------------------------------------------------------------------ systemd unit

def test_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    text = UNIT.read_text()
    # systemd-analyze checks that ExecStart's binary exists: point it at the one just built.
    exe = str(Path(HOTDOG).resolve())
    assert os.access(exe, os.X_OK), f"{exe} not built: run make"
    new, n = re.subn(rf"^ExecStart={re.escape(INSTALLED_EXEC)}\b", f"ExecStart={exe}", text,
                     flags=re.M)
    assert n == 1, f"ExecStart= in {UNIT} does not start with {INSTALLED_EXEC}"
    unit = tmp_path / "hotdog.service"
    unit.write_text(new)
    # Documentation=man:hotdog(1) is checked with man(1): give it the page, installed as
    # `make install` lays it out, so that a missing or misnamed page fails here too.
    (tmp_path / "man" / "man1").mkdir(parents=True)
    shutil.copy(MANPAGE, tmp_path / "man" / "man1" / "hotdog.1")
    r = run(["systemd-analyze", "verify", str(unit)], cwd=tmp_path,
            env={"MANPATH": str(tmp_path / "man")})
    # Unknown or misspelled keys are only warnings (exit status 0): any output is a failure.
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), \
        f"systemd-analyze verify (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def unit_settings():
    settings = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            settings.setdefault(m.group(1), []).append(m.group(2))
    return settings


def test_unit_keeps_pcre2_jit_and_stop_timeout():
    s = unit_settings()
    # PCRE2's JIT needs writable+executable memory; with MemoryDenyWriteExecute=yes every
    # regex silently falls back to the much slower interpreter.
    assert "MemoryDenyWriteExecute" not in s
    # systemd must not SIGKILL hotdog before its shutdown flush (shutdown_timeout_ms,
    # 10 s by default) can finish.
    stop = s["TimeoutStopSec"][-1]
    m = re.fullmatch(r"(\d+)s?", stop)
    assert m and int(m.group(1)) > 10, f"TimeoutStopSec={stop} leaves no margin over 10 s"
    assert s["Type"] == ["notify"] and s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


# ---------------------------------------------------------------------- man page

def test_man_page_lint_mandoc():
    r = run([need("mandoc"), "-Tlint", "-W", "style", str(MANPAGE)])
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_man_page_lint_groff():
    r = run([need("groff"), "-man", "-ww", "-z", str(MANPAGE)])
    # groff exits 0 after warnings: any output is a failure.
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_man_page_renders_with_man():
    if shutil.which("man") is None:
        pytest.skip("man (man-db) not installed; groff and mandoc checked the page already")
    r = run(["man", "--warnings", "-l", str(MANPAGE)], env={"MANWIDTH": "80", "MANPAGER": "cat"})
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    assert "SYNOPSIS" in r.stdout and "hotdog" in r.stdout


# ------------------------------------------------- man page vs. hotdog --help

def help_text():
    r = subprocess.run([HOTDOG, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "Configuration keys:" in r.stdout, "hotdog --help no longer prints the key table"
    return r.stdout


def help_options(text):
    """(short, long) options from the option lines of --help, e.g. ('-c', '--config')."""
    opts = []
    for line in text.split("Configuration keys:")[0].splitlines():
        m = re.match(r"^\s+(?:(-\w), )?\s*(--[\w-]+)", line)
        if m:
            opts.append(m.groups())
    return opts


def help_keys(text):
    """{key: default or None} from the table under 'Configuration keys:'."""
    keys = {}
    for line in text.split("Configuration keys:")[1].splitlines():
        # key, type, then "required", "default X" or nothing, then the meaning (which may say
        # "default" too: "default topic").
        m = re.match(r"^\s+([a-z_][\w.]*)\s+\S+\s+(?:required\s|default (\S+)\s)?", line)
        if m:
            keys[m.group(1)] = m.group(2)
    return keys


def plain(roff):
    """Roff source to text: escapes resolved the way they render."""
    s = re.sub(r"\\f(\[[^]]*\]|.)", "", roff)
    s = s.replace("\\%", "").replace("\\&", "").replace("\\-", "-").replace("\\e", "\\")
    return s.replace("\\(aq", "'").replace("\\~", " ")


def man_sections():
    sections, name = {}, None
    for line in MANPAGE.read_text().splitlines():
        if line.startswith(".SH "):
            name = line[4:].strip().strip('"')
            sections[name] = []
        elif name:
            sections[name].append(line)
    return sections


def man_key_entries():
    """{tag: body} of the .TP entries of CONFIGURATION, tags as plain text."""
    lines = man_sections()["CONFIGURATION"]
    entries, i = {}, 0
    while i < len(lines):
        if lines[i] == ".TP" and i + 1 < len(lines):
            tag = plain(re.sub(r"^\.[BI]R? ", "", lines[i + 1])).strip()
            body = []
            i += 2
            while i < len(lines) and lines[i] not in (".TP", ".PP") and not lines[i].startswith(".SS"):
                body.append(lines[i])
                i += 1
            entries[tag] = plain(" ".join(body))
        else:
            i += 1
    return entries


def test_help_parsing_sanity():
    # If --help's layout changes, the checks below must not pass by finding nothing.
    text = help_text()
    assert len(help_options(text)) >= 8
    keys = help_keys(text)
    assert "global.kafka.topic" in keys and keys["global.kafka.shutdown_timeout_ms"] == "10000"


def test_man_page_documents_every_option():
    sections = man_sections()
    for needed in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION", "SIGNALS",
                   "ENVIRONMENT", "EXIT STATUS", "FILES", "SEE ALSO"):
        assert needed in sections, f"{MANPAGE} has no {needed} section"
    synopsis = plain("\n".join(sections["SYNOPSIS"]))
    options = plain("\n".join(sections["OPTIONS"]))
    missing = []
    for short, long in help_options(help_text()):
        for opt in filter(None, (short, long)):
            if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", synopsis + options):
                missing.append(opt)
    assert not missing, f"options in hotdog --help but not in {MANPAGE}: {missing}"


def test_man_page_documents_every_config_key_and_default():
    entries = man_key_entries()
    keys = help_keys(help_text())
    stale = sorted(set(entries) - set(keys))
    assert not stale, f"entries of {MANPAGE} for keys hotdog --help does not know: {stale}"
    missing, wrong = [], []
    for key, default in keys.items():
        if key not in entries:
            missing.append(key)
        elif default is not None and not re.search(rf"(?<![\w.]){re.escape(default)}(?![\w])",
                                                   entries[key]):
            wrong.append(f"{key} (--help says default {default})")
    assert not missing, f"configuration keys in hotdog --help with no entry in {MANPAGE}: {missing}"
    assert not wrong, f"defaults in {MANPAGE} differ from hotdog --help: {wrong}"


def test_man_page_documents_environment():
    env = plain("\n".join(man_sections()["ENVIRONMENT"]))
    for var in ("KAFKA_BROKER", "SASL_SCRAM_USERNAME", "SASL_SCRAM_PASSWORD", "HOTDOG_LOG"):
        assert var in env, f"{var} not in ENVIRONMENT of {MANPAGE}"


# ------------------------------------------ generated references (make docs, doc/docgen.c)

DOCGEN = Path(HOTDOG).resolve().parent / "docgen"


def docgen(*args):
    assert os.access(DOCGEN, os.X_OK), f"{DOCGEN} not built: run make test (or make {DOCGEN})"
    return run([str(DOCGEN), *args])


@pytest.mark.parametrize("doc", ["configuration", "metrics"])
def test_generated_doc_is_current(doc):
    path = ROOT / "doc" / f"{doc}.md"
    r = docgen(doc, str(path))
    assert r.returncode == 0, r.stderr
    committed = path.read_text()
    if r.stdout != committed:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), r.stdout.splitlines(True),
                                            f"{path} (committed)", "what the tables give"))
        pytest.fail(f"{path} is not current: run make docs and commit it\n{diff[:6000]}")


def test_docgen_needs_its_markers(tmp_path):
    f = tmp_path / "x.md"
    f.write_text("# prose only\n<!-- BEGIN GENERATED -->\nno end marker\n")
    r = docgen("metrics", str(f))
    assert r.returncode == 1 and "END GENERATED" in r.stderr, r.stderr
    assert docgen("nonsense", str(f)).returncode == 2


def test_configuration_md_lists_every_key_of_help_with_its_default():
    text = (ROOT / "doc" / "configuration.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([\w.]+)` \| [^|]+ \| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    headings = set(re.findall(r"^### ([\w.]+)$", text, flags=re.M))
    assert len(rows) > 40 and "global.kafka.spool" in headings
    missing, wrong = [], []
    for key, default in help_keys(help_text()).items():
        if key not in rows and key not in headings:
            missing.append(key)
        elif default is not None and not rows[key].startswith(f"`{default}`"):
            wrong.append(f"{key}: --help says default {default}, the doc {rows[key]}")
    assert not missing, f"keys in hotdog --help, not in doc/configuration.md: {missing}"
    assert not wrong, wrong


# ------------------------------------------------ links between README.md and doc/*.md

# The documents an operator reaches from the README: every relative link in them must point at
# a file (or directory) of the repository that exists and, with a #fragment, at a heading of
# that file, so that a renamed section or a moved file cannot leave a dead link behind.
LINKED_DOCS = ["README.md", "doc/*.md", "bench/README.md", "bench/results/measurements.md"]

FENCE = re.compile(r"^ {0,3}(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target) and ![alt](target), with an optional "title"; target may be <...>.
LINK = re.compile(r"!?\[((?:[^\[\]\\]|\\.|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif line.strip().startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, line


def github_anchor(heading):
    """GitHub's anchor for a heading: its text as rendered (link targets, markup and inline
    code's backticks gone), lower case, punctuation other than '-' and '_' dropped, each space
    a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor of a Markdown file: its headings (a repeated one gets -1, -2, ... as on
    GitHub) and explicit <a name/id="...">."""
    seen, out = {}, set()
    text = path.read_text()
    for _, line in prose_lines(text):
        m = HEADING.match(line)
        if m:
            a = github_anchor(m.group(2))
            n = seen.get(a, 0)
            seen[a] = n + 1
            out.add(a if n == 0 else f"{a}-{n}")
    out.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return out


def broken_links(files, root):
    """'FILE:LINE: [text](target): why' for every relative link that does not resolve."""
    bad, cache = [], {}
    root = root.resolve()
    for md in files:
        for n, line in prose_lines(md.read_text()):
            for m in LINK.finditer(INLINE_CODE.sub("", line)):
                target = m.group(2).strip("<>")
                if SCHEME.match(target):
                    continue  # https:, mailto:, man: ... are not checked here
                path, _, frag = target.partition("#")
                dest = (md.parent / path).resolve() if path else md.resolve()
                where = f"{md.relative_to(root)}:{n}: [{m.group(1)}]({target})"
                if not dest.is_relative_to(root):
                    bad.append(f"{where}: points outside the repository")
                elif not dest.exists():
                    bad.append(f"{where}: no such file")
                elif frag:
                    if dest.suffix != ".md":
                        bad.append(f"{where}: a #fragment into a file that is not Markdown")
                        continue
                    if dest not in cache:
                        cache[dest] = anchors(dest)
                    if frag not in cache[dest]:
                        bad.append(f"{where}: no heading with anchor #{frag} in {dest.relative_to(root)}")
    return bad


def linked_docs():
    files = sorted({p for pattern in LINKED_DOCS for p in ROOT.glob(pattern)})
    assert ROOT / "README.md" in files and len(files) >= 10, files
    return files


def test_doc_links_resolve():
    files = linked_docs()
    # The check must see links, or it passes by finding nothing.
    count = sum(len(LINK.findall(INLINE_CODE.sub("", line))) for f in files
                for _, line in prose_lines(f.read_text()))
    assert count > 100, f"only {count} links found in {len(files)} files: is LINK still right?"
    bad = broken_links(files, ROOT)
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_readme_links_every_doc():
    # Every document of doc/ is one click from the README (so every key, metric and
    # guarantee is within two).
    readme = (ROOT / "README.md").read_text()
    linked = {m.group(2).partition("#")[0] for m in LINK.finditer(readme)}
    missing = [f"doc/{p.name}" for p in sorted((ROOT / "doc").glob("*.md")) if f"doc/{p.name}" not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_link_check_catches_broken_links(tmp_path):
    (tmp_path / "doc").mkdir()
    (tmp_path / "doc" / "b.md").write_text(
        "# B\n\n## Spool full: `max_bytes` (at last)\n\n## Twice\n\n## Twice\n\n"
        "```\n## not a heading\n```\n")
    a = tmp_path / "a.md"
    a.write_text(
        "[ok](doc/b.md) [ok](doc/b.md#spool-full-max_bytes-at-last) [ok](doc/b.md#twice-1)\n"
        "[ok](#a) [ok](https://example.com/x#y) `[not a link](nowhere.md)`\n"
        "[file](doc/c.md) [anchor](doc/b.md#spool-full) [code](doc/b.md#not-a-heading)\n"
        "```\n[in a fence](nowhere.md)\n```\n"
        "[outside](../x.md) [self](#nope)\n# A\n")
    (tmp_path / "x.md").write_text("")
    bad = broken_links([a], tmp_path)
    assert [b.split(": ", 1)[1].split("]")[0] for b in bad] == \
        ["[file", "[anchor", "[code", "[outside", "[self"], bad
