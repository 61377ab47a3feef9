//! Test-only parser oracle for tests/compat/test_parser_diff.py.
//!
//! Reads LF-separated lines on stdin and prints, for each, one JSON object with how hotdog 0.5.1
//! would read it: syslog_rfc5424 first, then syslog_loose, the line rejected when syslog_loose
//! finds no timestamp. The line handed to the crates is the line without its LF (and without a
//! CR before it), as async-std's `lines()` hands it to the original.
//!
//! Output fields (tests/compat/parse_dump.c prints ours in exactly this shape):
//!   accepted   true/false as the original decides; null when a crate panicked (the original,
//!              built with panic=abort, dies on such a line), with "panic": true
//!   utf8       false when the line is not UTF-8 (the original closes the connection)
//!   parser     "rfc5424" (syslog_rfc5424), "loose5424" or "loose3164" (syslog_loose)
//!   facility, severity   the crates' as_str() names, or null
//!   hostname, appname, procid, msgid   strings or null; procid as the crate shows it (a PID
//!              that parses as an i32 is printed as that integer)
//!   timestamp  the instant in UTC as "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (9 digits), or null.
//!              Dates without a year get the current year and local time (run with TZ=UTC).
//!   sd         {id: {param: value}}; a repeated id or param: the later one wins. Values as the
//!              crate stores them (syslog_rfc5424 unescaped, syslog_loose raw text)
//!   msg        the message body
use serde_json::{json, Map, Value};
use std::io::{self, BufRead, BufWriter, Write};

fn utc(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn strict(m: syslog_rfc5424::SyslogMessage) -> Value {
    let ts = m.timestamp.map(|s| {
        let ns = m.timestamp_nanos.unwrap_or(0);
        match chrono::NaiveDateTime::from_timestamp_opt(s, ns) {
            Some(t) => utc(chrono::DateTime::from_utc(t, chrono::Utc)),
            None => format!("out-of-range:{}:{}", s, ns),
        }
    });
    let mut sd = Map::new();
    for (id, params) in m.sd.iter() {
        let mut p = Map::new();
        for (k, v) in params {
            p.insert(k.clone(), json!(v));
        }
        sd.insert(id.clone(), Value::Object(p));
    }
    json!({
        "accepted": true, "parser": "rfc5424",
        "facility": m.facility.as_str(), "severity": m.severity.as_str(),
        "hostname": m.hostname, "appname": m.appname,
        "procid": m.procid.map(|p| match p {
            syslog_rfc5424::message::ProcId::PID(n) => n.to_string(),
            syslog_rfc5424::message::ProcId::Name(s) => s,
        }),
        "msgid": m.msgid, "timestamp": ts, "sd": sd, "msg": m.msg,
    })
}

fn loose(line: &str) -> Value {
    let m = syslog_loose::parse_message(line);
    if m.timestamp.is_none() {
        return json!({"accepted": false});
    }
    let mut sd = Map::new();
    for el in &m.structured_data {
        let e = sd.entry(el.id.to_string()).or_insert_with(|| json!({}));
        for (k, v) in &el.params {
            e.as_object_mut().unwrap().insert(k.to_string(), json!(v));
        }
    }
    let parser = match m.protocol {
        syslog_loose::Protocol::RFC3164 => "loose3164",
        syslog_loose::Protocol::RFC5424(_) => "loose5424",
    };
    json!({
        "accepted": true, "parser": parser,
        "facility": m.facility.map(|f| f.as_str()), "severity": m.severity.map(|s| s.as_str()),
        "hostname": m.hostname, "appname": m.appname,
        "procid": m.procid.map(|p| p.to_string()),
        "msgid": m.msgid,
        "timestamp": m.timestamp.map(|t| utc(t.with_timezone(&chrono::Utc))),
        "sd": sd, "msg": m.msg,
    })
}

fn one(line: &str) -> Value {
    match syslog_rfc5424::parse_message(line) {
        Ok(m) => strict(m),
        Err(_) => loose(line),
    }
}

fn main() {
    // A panic inside a crate is reported per line instead of ending the oracle.
    std::panic::set_hook(Box::new(|_| {}));
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let out = io::stdout();
    let mut out = BufWriter::new(out.lock());
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).expect("stdin") == 0 {
            break;
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
        }
        let v = match std::str::from_utf8(&raw) {
            Err(_) => json!({"accepted": false, "utf8": false}),
            Ok(line) => {
                let owned = line.to_string();
                match std::panic::catch_unwind(|| one(&owned)) {
                    Ok(v) => v,
                    Err(_) => json!({"accepted": null, "panic": true}),
                }
            }
        };
        serde_json::to_writer(&mut out, &v).expect("stdout");
        out.write_all(b"\n").expect("stdout");
    }
}
