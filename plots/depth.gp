# depth.gp — the degradation curve: training error at the end (solid, filled
# points) and test error (dashed, open points) against depth, one colour per
# family. Data: index IDX[f] holds (depth, train %, test %, runs) of family f.
# Variables: TITLE, NOTE, NF, FAMILY[f], IDX[f], XMIN, XMAX; xtics at the depths.
set title TITLE noenhanced
set xlabel 'depth (weighted layers)'
set ylabel 'final error (%)'
set xrange [XMIN:XMAX]
set yrange [0:*]
set key outside right top vertical
set bmargin 5.5
set label 1 NOTE at screen 0.5,0.035 center noenhanced font F_NOTE
plot for [f=1:NF] datafile index IDX[f] using 1:2 with linespoints lt f dt 1 ps 1.3 \
         title FAMILY[f].', train', \
     for [f=1:NF] datafile index IDX[f] using 1:3 with linespoints lt f dt 2 pt OPEN_PT[(f-1)%8+1] ps 1.3 \
         title FAMILY[f].', test'
