/*
dev/plot_loss.c: a loss curve from ./train's log, as an SVG picture, in plain
C (libc and libm only: no gnuplot, no Python). Run by `make plot`.

Build:  make dev/plot_loss   (or: cc -O2 -std=c11 dev/plot_loss.c -o dev/plot_loss -lm)
Usage:  dev/plot_loss LOG OUT.svg [--ymin Y] [--ymax Y] [--title TEXT]

LOG is DIR/main.log of `./train -o DIR`, llm.c's format, one line per event:
    s:STEP trl:LOSS [more key:value fields]     train loss after step STEP
    s:STEP tel:LOSS                             val loss at step STEP
Lines of another kind (`s:STEP key:...` with a key other than trl or tel) are
skipped, so new fields and line kinds do not break the plot; a line that is
not `s:STEP key:value` at all, a loss that is not a finite number, or a log
with no loss at all is an error (a message with the line number, exit 1).

A resumed run (`./train -y 1`) appends to the log from its checkpoint's step,
so steps after that checkpoint appear twice; for every step the LAST line in
the file wins, which is the run that carried on. The picture: the train loss
(every step, a thin line, and from 50 steps on a moving average over 4% of
the steps on top of it), the val loss (a line with a dot per evaluation), x = step, y = loss in nats per token, ticks at 1, 2 or 5 times a
power of ten, a legend. The y range is that of all points unless --ymin or
--ymax narrow it (points outside are clipped at the frame).

The SVG is written atomically (OUT.tmp, then rename). Its two curves are
<polyline class="train"> and <polyline class="val"> (the moving average is
class "train-smooth"), and its axes carry
data-min/data-max attributes with the plotted range, which the test reads.
*/

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define ERROR_PREFIX "plot_loss: error: "
#include "../util.h"  // die
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// picture geometry, in SVG user units (pixels)
#define WIDTH 760.0
#define HEIGHT 460.0
#define MARGIN_LEFT 70.0
#define MARGIN_RIGHT 20.0
#define MARGIN_TOP 40.0
#define MARGIN_BOTTOM 55.0
#define TARGET_TICKS 6          // about this many ticks per axis
#define MAX_TICKS 50            // at most this many: bounds a degenerate axis
#define LINE_MAX_LEN 4096
#define TRAIN_COLOR "#1f77b4"
#define VAL_COLOR "#d62728"
#define SMOOTH_FRACTION 0.04    // moving-average window of the smoothed train curve

// ----------------------------------------------------------------------------
// reading the log

typedef struct {
    long step;
    double loss;
    long order;   // position in the file: later lines win on a repeated step
} Point;

typedef struct {
    Point *p;
    size_t n, cap;
} Series;

static void series_push(Series *s, long step, double loss, long order) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->p = realloc(s->p, s->cap * sizeof(Point));
        if (s->p == NULL) { die("out of memory"); }
    }
    s->p[s->n++] = (Point){step, loss, order};
}

static int cmp_point(const void *x, const void *y) {
    const Point *a = x, *b = y;
    if (a->step != b->step) { return (a->step > b->step) - (a->step < b->step); }
    return (a->order > b->order) - (a->order < b->order);
}

// sorts by step and keeps, for each step, the point that came last in the
// file; returns how many points were dropped
static size_t series_dedup(Series *s) {
    if (s->n == 0) { return 0; }
    qsort(s->p, s->n, sizeof(Point), cmp_point);
    size_t u = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (u > 0 && s->p[u - 1].step == s->p[i].step) {
            s->p[u - 1] = s->p[i];    // same step, later line: it replaces
        } else {
            s->p[u++] = s->p[i];
        }
    }
    size_t dropped = s->n - u;
    s->n = u;
    return dropped;
}

// parses one line into (step, kind, loss). Returns 0 for a blank line,
// 1 for a trl or tel line, 2 for another kind of s: line, -1 if malformed.
static int parse_line(const char *line, long *step, char kind[8], double *loss) {
    const char *s = line;
    while (*s == ' ' || *s == '\t') { s++; }
    if (*s == '\0' || *s == '\n' || *s == '\r') { return 0; }
    if (strncmp(s, "s:", 2) != 0) { return -1; }
    char *end;
    errno = 0;
    long st = strtol(s + 2, &end, 10);
    if (end == s + 2 || errno != 0 || st < 0 || (*end != ' ' && *end != '\t')) { return -1; }
    s = end;
    while (*s == ' ' || *s == '\t') { s++; }
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon == s) { return -1; }
    size_t klen = (size_t)(colon - s);
    if (!((klen == 3 && strncmp(s, "trl", 3) == 0) || (klen == 3 && strncmp(s, "tel", 3) == 0))) {
        return 2;
    }
    memcpy(kind, s, 3);
    kind[3] = '\0';
    errno = 0;
    double x = strtod(colon + 1, &end);
    if (end == colon + 1 || errno == ERANGE || !isfinite(x)) { return -1; }
    if (*end != '\0' && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r') { return -1; }
    *step = st;
    *loss = x;
    return 1;
}

static void read_log(const char *path, Series *train, Series *val) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "plot_loss: error: cannot open log '%s': %s\n", path, strerror(errno));
        exit(1);
    }
    char line[LINE_MAX_LEN];
    long lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            die("%s:%ld: line too long: not a ./train log", path, lineno);
        }
        long step;
        char kind[8];
        double loss;
        int r = parse_line(line, &step, kind, &loss);
        if (r < 0) {
            die("%s:%ld: malformed line (expected 's:STEP trl:LOSS' or 's:STEP tel:LOSS', "
                "as ./train -o DIR writes to DIR/main.log)", path, lineno);
        }
        if (r == 1) { series_push(strcmp(kind, "trl") == 0 ? train : val, step, loss, lineno); }
    }
    if (ferror(f)) { die("%s: read error", path); }
    fclose(f);
    if (train->n + val->n == 0) {
        die("%s: no loss lines in the log (empty, or not a ./train log?)", path);
    }
}

// ----------------------------------------------------------------------------
// axes

typedef struct {
    double lo, hi;     // the plotted range
    double tick;       // tick spacing: 1, 2 or 5 times a power of ten
} Axis;

// a tick spacing of 1, 2 or 5 x 10^e that gives about TARGET_TICKS ticks over
// [lo, hi], and the range widened to whole ticks
static Axis nice_axis(double lo, double hi, int integer) {
    if (hi - lo < 1e-12) {            // one value: make room around it
        double pad = fabs(lo) > 1e-12 ? fabs(lo) * 0.05 : 1.0;
        lo -= pad; hi += pad;
    }
    double raw = (hi - lo) / TARGET_TICKS;
    double mag = pow(10.0, floor(log10(raw)));
    double r = raw / mag;
    double tick = (r < 1.5 ? 1.0 : r < 3.5 ? 2.0 : r < 7.5 ? 5.0 : 10.0) * mag;
    if (integer && tick < 1.0) { tick = 1.0; }
    Axis a = {floor(lo / tick + 1e-9) * tick, ceil(hi / tick - 1e-9) * tick, tick};
    return a;
}

static double map_x(const Axis *a, double v) {
    return MARGIN_LEFT + (v - a->lo) / (a->hi - a->lo) * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT);
}

static double map_y(const Axis *a, double v) {
    if (v < a->lo) { v = a->lo; }
    if (v > a->hi) { v = a->hi; }
    return HEIGHT - MARGIN_BOTTOM - (v - a->lo) / (a->hi - a->lo) * (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM);
}

// ----------------------------------------------------------------------------
// the SVG

// writes s with &, <, > and " escaped
static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
            case '&': fputs("&amp;", f); break;
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '"': fputs("&quot;", f); break;
            default: fputc(*s, f);
        }
    }
}

// The ticks are lo + k * tick, counted by k: stepping v += tick never ends when
// the tick is below the rounding step of the values (losses near 1e16 that
// differ by 2 give a tick of 0.5, and 1e16 + 0.5 == 1e16).
static void svg_axes(FILE *f, const Axis *x, const Axis *y) {
    double x0 = MARGIN_LEFT, x1 = WIDTH - MARGIN_RIGHT;
    double y0 = HEIGHT - MARGIN_BOTTOM, y1 = MARGIN_TOP;
    fprintf(f, "<g id=\"x-axis\" data-min=\"%g\" data-max=\"%g\" font-size=\"12\" text-anchor=\"middle\">\n",
            x->lo, x->hi);
    for (int k = 0; k <= MAX_TICKS; k++) {
        double v = x->lo + k * x->tick;
        if (!(v <= x->hi + x->tick * 1e-6)) { break; }
        double px = map_x(x, v);
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                px, y0, px, y1);
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                px, y0, px, y0 + 5);
        fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\">%g</text>\n", px, y0 + 19, fabs(v) < 1e-9 ? 0.0 : v);
    }
    fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\" font-size=\"14\">step</text>\n</g>\n",
            (x0 + x1) / 2, HEIGHT - 12);
    fprintf(f, "<g id=\"y-axis\" data-min=\"%g\" data-max=\"%g\" font-size=\"12\" text-anchor=\"end\">\n",
            y->lo, y->hi);
    for (int k = 0; k <= MAX_TICKS; k++) {
        double v = y->lo + k * y->tick;
        if (!(v <= y->hi + y->tick * 1e-6)) { break; }
        double py = map_y(y, v);
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                x0, py, x1, py);
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>\n",
                x0 - 5, py, x0, py);
        fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\">%g</text>\n", x0 - 8, py + 4, fabs(v) < 1e-9 ? 0.0 : v);
    }
    fprintf(f, "  <text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"middle\" "
            "font-size=\"14\">loss (nats per token)</text>\n</g>\n", 18.0, (y0 + y1) / 2);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#000\"/>\n",
            x0, y1, x1 - x0, y0 - y1);
}

static void svg_series(FILE *f, const Series *s, const Axis *x, const Axis *y, const char *cls,
                       const char *color, double width, int dots) {
    if (s->n == 0) { return; }
    fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
            "stroke-linejoin=\"round\" points=\"", cls, color, width);
    for (size_t i = 0; i < s->n; i++) {
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", map_x(x, (double)s->p[i].step), map_y(y, s->p[i].loss));
    }
    fprintf(f, "\"/>\n");
    if (dots) {
        fprintf(f, "<g class=\"%s-dots\" fill=\"%s\">\n", cls, color);
        for (size_t i = 0; i < s->n; i++) {
            fprintf(f, "  <circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>\n", map_x(x, (double)s->p[i].step),
                    map_y(y, s->p[i].loss));
        }
        fprintf(f, "</g>\n");
    }
}

// the train loss of one step is noisy: when there are many steps, a centred
// moving average over SMOOTH_FRACTION of them (an odd window of at least 3
// points, shorter near the ends) is drawn on top of the raw curve
static Series smooth_series(const Series *s) {
    Series out = {NULL, 0, 0};
    size_t half = (size_t)((double)s->n * SMOOTH_FRACTION / 2.0);
    if (half < 1) { return out; }
    for (size_t i = 0; i < s->n; i++) {
        size_t lo = i >= half ? i - half : 0, hi = i + half < s->n ? i + half : s->n - 1;
        double sum = 0.0;
        for (size_t j = lo; j <= hi; j++) { sum += s->p[j].loss; }
        series_push(&out, s->p[i].step, sum / (double)(hi - lo + 1), (long)i);
    }
    return out;
}

static void svg_legend(FILE *f, const Series *train, const Series *val) {
    double x = WIDTH - MARGIN_RIGHT - 190, y = MARGIN_TOP + 10;
    fprintf(f, "<g id=\"legend\" font-size=\"13\">\n");
    fprintf(f, "  <rect x=\"%.1f\" y=\"%.1f\" width=\"180\" height=\"48\" fill=\"#fff\" "
            "fill-opacity=\"0.9\" stroke=\"#999\"/>\n", x, y);
    const char *labels[2] = {"train loss", "val loss"};
    const char *colors[2] = {TRAIN_COLOR, VAL_COLOR};
    const Series *ss[2] = {train, val};
    for (int i = 0; i < 2; i++) {
        double ly = y + 16 + 18 * i;
        fprintf(f, "  <line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"%d\"/>\n", x + 10, ly, x + 40, ly, colors[i], 2);
        if (ss[i]->n > 0) {
            fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\">%s (last %.3f)</text>\n", x + 48, ly + 4,
                    labels[i], ss[i]->p[ss[i]->n - 1].loss);
        } else {
            fprintf(f, "  <text x=\"%.1f\" y=\"%.1f\">%s (none)</text>\n", x + 48, ly + 4, labels[i]);
        }
    }
    fprintf(f, "</g>\n");
}

static void write_svg(const char *path, const char *title, const Series *train, const Series *val,
                      const Axis *x, const Axis *y) {
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (tmp == NULL) { die("out of memory"); }
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "plot_loss: error: cannot write '%s': %s\n", tmp, strerror(errno));
        exit(1);
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\">\n", WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">",
            (MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    svg_axes(f, x, y);
    Series smooth = smooth_series(train);
    svg_series(f, train, x, y, "train", smooth.n > 0 ? "#9ecae1" : TRAIN_COLOR, 1.0, 0);
    svg_series(f, &smooth, x, y, "train-smooth", TRAIN_COLOR, 2.0, 0);
    svg_series(f, val, x, y, "val", VAL_COLOR, 2.0, 1);
    free(smooth.p);
    svg_legend(f, train, val);
    fprintf(f, "</svg>\n");
    if (fflush(f) != 0 || ferror(f) || fclose(f) != 0) {
        fprintf(stderr, "plot_loss: error: writing '%s' failed: %s\n", tmp, strerror(errno));
        remove(tmp);
        exit(1);
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "plot_loss: error: cannot rename '%s' to '%s': %s\n", tmp, path, strerror(errno));
        remove(tmp);
        exit(1);
    }
    free(tmp);
}

// ----------------------------------------------------------------------------

static void usage(FILE *f) {
    fprintf(f, "usage: dev/plot_loss LOG OUT.svg [--ymin Y] [--ymax Y] [--title TEXT]\n"
               "  train and val loss of a ./train log (DIR/main.log) against step, as SVG\n");
}

static double parse_double(const char *flag, const char *s) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(x)) {
        fprintf(stderr, "plot_loss: error: %s '%s': expected a finite number\n", flag, s);
        exit(1);
    }
    return x;
}

int main(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *title = NULL;
    int n_paths = 0, have_ymin = 0, have_ymax = 0;
    double ymin = 0, ymax = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        int flag = strcmp(a, "--ymin") == 0 || strcmp(a, "--ymax") == 0 || strcmp(a, "--title") == 0;
        if (flag && i + 1 >= argc) { usage(stderr); die("missing value after %s", a); }
        if (strcmp(a, "--ymin") == 0) { ymin = parse_double(a, argv[++i]); have_ymin = 1; }
        else if (strcmp(a, "--ymax") == 0) { ymax = parse_double(a, argv[++i]); have_ymax = 1; }
        else if (strcmp(a, "--title") == 0) { title = argv[++i]; }
        else if (a[0] == '-' && a[1] != '\0') { usage(stderr); die("unknown flag %s", a); }
        else if (n_paths < 2) { paths[n_paths++] = a; }
        else { usage(stderr); die("too many arguments: %s", a); }
    }
    if (n_paths != 2) { usage(stderr); die("need a log file and an output file"); }
    if (have_ymin && have_ymax && ymin >= ymax) { die("--ymin must be below --ymax"); }

    Series train = {NULL, 0, 0}, val = {NULL, 0, 0};
    read_log(paths[0], &train, &val);
    size_t dropped = series_dedup(&train) + series_dedup(&val);
    if (dropped > 0) {
        fprintf(stderr, "plot_loss: %zu repeated step(s) (a resumed run?): the later line kept\n",
                dropped);
    }
    double smin = INFINITY, smax = -INFINITY, lmin = INFINITY, lmax = -INFINITY;
    const Series *ss[2] = {&train, &val};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < ss[k]->n; i++) {
            const Point *p = &ss[k]->p[i];
            smin = fmin(smin, (double)p->step); smax = fmax(smax, (double)p->step);
            lmin = fmin(lmin, p->loss); lmax = fmax(lmax, p->loss);
        }
    }
    if (have_ymin) { lmin = ymin; }
    if (have_ymax) { lmax = ymax; }
    if (lmin > lmax) { die("--ymin/--ymax leave no range for the losses"); }
    Axis x = nice_axis(smin < 0 ? smin : 0.0, smax, 1);
    Axis y = nice_axis(lmin, lmax, 0);
    if (have_ymin) { y.lo = ymin; }
    if (have_ymax) { y.hi = ymax; }
    write_svg(paths[1], title != NULL ? title : paths[0], &train, &val, &x, &y);
    printf("plot_loss: %s -> %s: %zu train and %zu val points, steps %ld..%ld, loss %.3f..%.3f\n",
           paths[0], paths[1], train.n, val.n, (long)smin, (long)smax, lmin, lmax);
    free(train.p);
    free(val.p);
    return 0;
}
