# bench/scale.gp - one make bench-scale sweep as a PNG, from the data bench/scale.py writes:
#   x  msgs_med msgs_min msgs_max  cpu_med cpu_min cpu_max  [kcat: the same six]
# (msgs/s in thousands, CPU-seconds per million messages). x on a log scale.
# usage: gnuplot -e "dat='FILE'; out='PNG'; ttl='TITLE'; xl='X LABEL'; kcat=0|1; logy=0|1" bench/scale.gp
# logy=1 puts both y axes on a log scale (the size sweep spans three decades).
set terminal pngcairo size 1200,520 font "sans,10"
set output out
set multiplot layout 1,2 title ttl font "sans,11"
set logscale x 2
set grid xtics ytics
if (logy) { set logscale y 10; set yrange [*:*] } else { set yrange [0:*] }
set xlabel xl
set key top right
set title "throughput (thousand messages/s)".(logy ? ", log scale" : "")
if (kcat) {
  plot dat using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb "#3b7dd8" title "hotdog, catch-all", \
       dat using 1:8:9:10 with yerrorlines lw 2 pt 5 dt 2 lc rgb "#777777" title "kcat -P (raw producer)"
} else {
  plot dat using 1:2:3:4 with yerrorlines lw 2 pt 7 lc rgb "#3b7dd8" title "hotdog"
}
set title "CPU seconds per million messages (per process; lower is better)".(logy ? ", log scale" : "")
if (kcat) {
  plot dat using 1:5:6:7 with yerrorlines lw 2 pt 7 lc rgb "#d8743b" title "hotdog, catch-all", \
       dat using 1:11:12:13 with yerrorlines lw 2 pt 5 dt 2 lc rgb "#777777" title "kcat -P"
} else {
  plot dat using 1:5:6:7 with yerrorlines lw 2 pt 7 lc rgb "#d8743b" title "hotdog"
}
unset multiplot
