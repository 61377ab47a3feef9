# bench/chart.gp - throughput.png from the data bench/report.py writes:
#   "label" kmsgs_median kmsgs_min kmsgs_max cpu_s_per_M_median cpu_min cpu_max
# usage: gnuplot -e "dat='FILE'; out='PNG'; ttl='TITLE'" bench/chart.gp
set terminal pngcairo size 1200,560 font "sans,10"
set bmargin 4.5
set output out
set multiplot layout 1,2 title ttl font "sans,11"
set style data histogram
set style histogram errorbars gap 1 lw 1.5
set style fill solid 0.75 border -1
set boxwidth 0.8
set grid ytics
set yrange [0:*]
set xtics scale 0 font "sans,9"
unset key
set title "throughput (thousand messages/s, higher is better)"
plot dat using 2:3:4:xtic(1) linecolor rgb "#3b7dd8"
set title "forwarder CPU seconds per million messages (lower is better)"
plot dat using 5:6:7:xtic(1) linecolor rgb "#d8743b"
unset multiplot
