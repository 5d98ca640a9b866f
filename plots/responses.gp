# responses.gp — He et al. 2015, Fig. 7: std of each 3×3 layer's response
# (after BN, before the nonlinearity or the addition), top in network order,
# bottom sorted by magnitude. Data: index IDX[i] holds (layer index, std,
# std sorted descending, layer). Variables: TITLE, N, IDX[i], LABEL[i].
set multiplot layout 2,1 title TITLE noenhanced font F_TITLE \
    margins 0.14,0.97,0.1,0.84 spacing 0,0.17
set ylabel 'std of response  (act.)' offset 1,0
set yrange [0:*]
set key bottom right
set offsets 0.5, 0.5, 0, 0
set autoscale xfix
set xlabel '3×3 layer index (network order)'
set title 'in network order' font F_PANEL
plot for [i=1:N] datafile index IDX[i] using 1:2 with linespoints \
         lt i dt DT[(i-1)%8+1] title LABEL[i]
unset key
set xlabel '3×3 layer index (sorted by magnitude)'
set title 'sorted, descending' font F_PANEL
plot for [i=1:N] datafile index IDX[i] using 1:3 with linespoints \
         lt i dt DT[(i-1)%8+1] title LABEL[i]
unset multiplot
