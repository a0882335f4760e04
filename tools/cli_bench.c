/* `vkllm bench`: prompt processing (pp N) and token generation (tg N) in
 * tokens/s, the device's bandwidth, and a per-op GPU profile of a step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define MAX_SIZES 16
#define PROFILE_MAX 65536

typedef struct bench_opts {
    const char *model, *synthetic, *device, *type;
    const char *quant; /* --quant: quantize -m's model while it loads */
    const char *quant_search; /* --quant-search */
    uint32_t pp[MAX_SIZES], n_pp, tg[MAX_SIZES], n_tg, depth[MAX_SIZES], n_depth, par[MAX_SIZES], n_par;
    uint32_t reps, n_batch;
    int json, bandwidth, profile;
} bench_opts;

typedef struct result {
    char test[32];
    uint32_t n_tokens;
    uint32_t parallel;     /* tg: sequences decoding together, one batched step each token */
    double median, lo, hi; /* tokens/s (tg: of each sequence) */
    double aggregate;      /* tg: median tokens/s of all sequences together */
    double weight_gbps, pct_copy, pct_limit; /* tg only */
} result;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* "128,512" -> sizes (each > 0, or >= 0 with allow_zero); 0 on a malformed list */
static int parse_list(const char *s, uint32_t *out, uint32_t *n, int allow_zero)
{
    *n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_SIZES || !cli_parse_u32(tok, &out[*n]) || (out[*n] == 0 && !allow_zero)) return 0;
        (*n)++;
    }
    return *n > 0;
}

static int parse_sizes(const char *s, uint32_t *out, uint32_t *n) { return parse_list(s, out, n, 0); }

static void usage(void)
{
    printf("usage: vkllm bench [-m MODEL [--quant TYPE [--quant-search S]] | --synthetic SHAPE [--type TYPE]] [-p N,N] [-n N,N] [-d N,N]\n"
           "                   [-r N] [--json] [--device SEL] [--batch N] [--parallel N,N] [--profile]\n"
           "       vkllm bench --bandwidth [--device SEL] [-r N] [--json]\n"
           "  pp N: N prompt tokens in one call (blocks of --batch), tokens/s\n"
           "  tg N: N tokens generated one at a time (greedy, argmax on the GPU), tokens/s\n"
           "  --parallel N: each tg with N sequences decoding together, one batched step (every\n"
           "      weight read once) per token of all of them: tokens/s of each sequence and the\n"
           "      aggregate of all (default 1)\n"
           "  -d N: run each test after N tokens already in the context (\"tg128 @ d4096\"): the\n"
           "      cost of attention over a long context (default 0)\n"
           "  each test runs once to warm up, then -r times (default 5): median and min..max\n"
           "  the tg rows show the weight bytes read per second this implies and its share of\n"
           "  the measured copy bandwidth (and of the bandwidth limit: copy GB/s / bytes per token)\n"
           "  --synthetic SHAPE: random weights made on the device, no file:\n"
           "      solar-10.7b, llama-2-7b, mistral-7b, tinyllama-1.1b, small, tiny (default)\n"
           "  --quant TYPE: quantize -m's F16/BF16/F32 model while it loads (q4_k_m, q8_0, ...)\n"
           "  --quant-search S: its scale search, exact (llama-quantize's) or fast (default: exact\n"
           "      where the GPU quantizes, fast on CPU devices); the load line says which ran\n"
           "  --type TYPE: the synthetic weights' type: f16 (default), q8_0, q4_0, q4_1, q5_0, q5_1,\n"
           "      q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs (every matrix), or a llama-quantize mix\n"
           "      (q3_k_s/m/l, q4_k_s/m, q5_k_s/m: per tensor as the mix gives it); random blocks\n"
           "  --bandwidth: copy bandwidth and the matrix-vector kernel on SOLAR's shapes\n"
           "  --profile: per-op GPU time of one decode step and one prefill of the first -p size,\n"
           "      and the decode kernels' tuning at load (GPUs; VKLLM_TUNE=0 off, =1 on CPUs too)\n"
           "  defaults: --synthetic tiny -p 512 -n 128 -r 5\n");
}

static int parse(int argc, char **argv, bench_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && v) o->model = argv[++i];
        else if (strcmp(a, "--synthetic") == 0 && v) o->synthetic = argv[++i];
        else if (strcmp(a, "--type") == 0 && v) o->type = argv[++i];
        else if (strcmp(a, "--device") == 0 && v) o->device = argv[++i];
        else if (strcmp(a, "--quant") == 0 && v) {
            if (!cli_quant_ok("bench", v)) return 2;
            o->quant = argv[++i];
        } else if (strcmp(a, "--quant-search") == 0 && v) {
            if (!cli_search_ok("bench", a, v)) return 2;
            o->quant_search = argv[++i];
        }
        else if ((strcmp(a, "-p") == 0 || strcmp(a, "--n-prompt") == 0) && v) ok = parse_sizes(argv[++i], o->pp, &o->n_pp);
        else if ((strcmp(a, "-n") == 0 || strcmp(a, "--n-gen") == 0) && v) ok = parse_sizes(argv[++i], o->tg, &o->n_tg);
        else if ((strcmp(a, "-d") == 0 || strcmp(a, "--depth") == 0) && v) {
            ok = parse_list(argv[++i], o->depth, &o->n_depth, 1);
        } else if ((strcmp(a, "-r") == 0 || strcmp(a, "--repetitions") == 0) && v) ok = cli_parse_u32(argv[++i], &o->reps) && o->reps > 0;
        else if (strcmp(a, "--parallel") == 0 && v) ok = parse_sizes(argv[++i], o->par, &o->n_par);
        else if (strcmp(a, "--batch") == 0 && v) ok = cli_parse_u32(argv[++i], &o->n_batch) && o->n_batch > 0;
        else if (strcmp(a, "--json") == 0) o->json = 1;
        else if (strcmp(a, "--bandwidth") == 0) o->bandwidth = 1;
        else if (strcmp(a, "--profile") == 0) o->profile = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "vkllm bench: unknown or incomplete option %s (try --help)\n", a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "vkllm bench: %s wants a positive number (or a list like 128,512), got '%s'\n", a, argv[i]);
            return 2;
        }
    }
    if (o->quant_search && !o->quant) {
        fprintf(stderr, "vkllm bench: --quant-search chooses how --quant searches scales: give --quant TYPE too\n");
        return 2;
    }
    if (o->quant && !o->model) {
        fprintf(stderr, "vkllm bench: --quant quantizes a model file while it loads: give -m MODEL\n");
        return 2;
    }
    if (o->model && o->synthetic) {
        fprintf(stderr, "vkllm bench: give -m MODEL or --synthetic SHAPE, not both\n");
        return 2;
    }
    if (o->type && o->model) {
        fprintf(stderr, "vkllm bench: --type is for --synthetic models (a file's weights have their own types)\n");
        return 2;
    }
    return -1;
}

/* ------------------------------------------------------------ bandwidth */

static int run_bandwidth(const bench_opts *o)
{
    vkllm_bandwidth bw;
    char err[1024];
    if (vkllm_measure_bandwidth(o->device, NULL, 0, o->reps, &bw, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "vkllm bench: %s\n", err);
        return 1;
    }
    if (o->json) {
        printf("[\n  {\"test\": \"copy\", \"device\": ");
        json_str(bw.device);
        printf(", \"gbps\": %.2f, \"bytes\": %llu}", bw.copy_gbps, (unsigned long long)bw.copy_bytes);
        for (uint32_t i = 0; i < bw.n_matvec; i++)
            printf(",\n  {\"test\": \"matvec %ux%u\", \"us\": %.1f, \"gbps\": %.2f, \"pct_copy\": %.1f}", bw.matvec[i].rows,
                   bw.matvec[i].cols, bw.matvec[i].us, bw.matvec[i].gbps, 100 * bw.matvec[i].gbps / bw.copy_gbps);
        printf("\n]\n");
        return 0;
    }
    printf("device: %s\n\n", bw.device);
    printf("| test | GPU µs | GB/s | %% of copy |\n|---|---:|---:|---:|\n");
    printf("| copy %.0f MiB (read + write) | | %.1f | 100 |\n", bw.copy_bytes / 1048576.0, bw.copy_gbps);
    for (uint32_t i = 0; i < bw.n_matvec; i++)
        printf("| matvec %u x %u fp16 | %.1f | %.1f | %.1f |\n", bw.matvec[i].rows, bw.matvec[i].cols, bw.matvec[i].us,
               bw.matvec[i].gbps, 100 * bw.matvec[i].gbps / bw.copy_gbps);
    return 0;
}

/* ------------------------------------------------------------ profile */

static void print_profile(vkllm_session *s, const char *what)
{
    vkllm_profile_entry *e = malloc(PROFILE_MAX * sizeof *e);
    uint32_t n = e ? vkllm_session_profile(s, e, PROFILE_MAX) : 0;
    if (n == 0) {
        printf("\n%s: no GPU timestamps on this device\n", what);
        free(e);
        return;
    }
    /* group by (step, kernel), in order of first appearance */
    typedef struct row { const char *step, *kernel; uint32_t calls; double us; } row;
    row *rows = calloc(n, sizeof *rows);
    uint32_t n_rows = 0;
    double total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = 0;
        while (r < n_rows && !(strcmp(rows[r].step, e[i].step) == 0 && strcmp(rows[r].kernel, e[i].kernel) == 0)) r++;
        if (r == n_rows) rows[n_rows++] = (row){ e[i].step, e[i].kernel, 0, 0 };
        rows[r].calls++;
        rows[r].us += e[i].us;
        total += e[i].us;
    }
    printf("\n%s: %u dispatches, %.1f µs of GPU time\n\n", what, n, total);
    printf("| step | kernel | dispatches | µs | %% |\n|---|---|---:|---:|---:|\n");
    for (uint32_t r = 0; r < n_rows; r++)
        printf("| %s | %s | %u | %.1f | %.1f |\n", rows[r].step, rows[r].kernel, rows[r].calls, rows[r].us,
               100 * rows[r].us / total);
    free(rows);
    free(e);
}

/* ------------------------------------------------------------ pp / tg */

static vkllm_status run_test(vkllm_session *s, uint32_t n_vocab, int is_pp, uint32_t n, uint32_t depth, uint32_t reps,
                             result *out)
{
    uint32_t n_toks = n > depth ? n : depth;
    int32_t *toks = malloc((size_t)(n_toks ? n_toks : 1) * sizeof *toks);
    double *tps = malloc((reps + 1) * sizeof *tps);
    vkllm_status st = toks && tps ? VKLLM_OK : VKLLM_ERR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < n_toks && toks; i++) toks[i] = (int32_t)((i * 7919u + 1) % n_vocab);
    for (uint32_t r = 0; r <= reps && st == VKLLM_OK; r++) { /* run 0: warm-up */
        st = vkllm_session_rewind(s, 0);
        int32_t ignore;
        if (st == VKLLM_OK && depth) /* the context to start from, not timed */
            st = vkllm_session_eval(s, toks, depth, VKLLM_LOGITS_ARGMAX, NULL, &ignore);
        double t0 = now_s();
        if (is_pp) {
            int32_t next;
            if (st == VKLLM_OK) st = vkllm_session_eval(s, toks, n, VKLLM_LOGITS_ARGMAX, NULL, &next);
        } else {
            int32_t tok = 1;
            for (uint32_t i = 0; i < n && st == VKLLM_OK; i++) st = vkllm_session_eval(s, &tok, 1, VKLLM_LOGITS_ARGMAX, NULL, &tok);
        }
        tps[r] = n / (now_s() - t0);
    }
    if (st == VKLLM_OK) {
        qsort(tps + 1, reps, sizeof *tps, cmp_double);
        if (depth) snprintf(out->test, sizeof out->test, "%s%u @ d%u", is_pp ? "pp" : "tg", n, depth);
        else snprintf(out->test, sizeof out->test, "%s%u", is_pp ? "pp" : "tg", n);
        out->n_tokens = n;
        out->median = reps % 2 ? tps[1 + reps / 2] : 0.5 * (tps[reps / 2] + tps[1 + reps / 2]);
        out->lo = tps[1];
        out->hi = tps[reps];
    }
    free(toks);
    free(tps);
    return st;
}

/* tg n with the P sessions ss[] decoding together: one vkllm_batch_eval of
 * P rows per token. Tokens/s of each sequence (and their aggregate). */
static vkllm_status run_tg_parallel(vkllm_batch *b, vkllm_session **ss, uint32_t P, uint32_t n_vocab, uint32_t n,
                                    uint32_t depth, uint32_t reps, result *out, char *err, size_t err_len)
{
    int32_t *toks = malloc((size_t)(depth ? depth : 1) * sizeof *toks), tok[MAX_SIZES * 8];
    vkllm_batch_seq *seq = malloc(P * sizeof *seq);
    double *tps = malloc((reps + 1) * sizeof *tps);
    vkllm_status st = toks && seq && tps ? VKLLM_OK : VKLLM_ERR_OUT_OF_MEMORY;
    if (st != VKLLM_OK) snprintf(err, err_len, "out of host memory");
    for (uint32_t i = 0; i < depth && toks; i++) toks[i] = (int32_t)((i * 7919u + 1) % n_vocab);
    for (uint32_t r = 0; r <= reps && st == VKLLM_OK; r++) { /* run 0: warm-up */
        for (uint32_t j = 0; j < P && st == VKLLM_OK; j++) {
            st = vkllm_session_rewind(ss[j], 0);
            int32_t ignore;
            if (st == VKLLM_OK && depth) /* the context to start from, not timed */
                st = vkllm_session_eval(ss[j], toks, depth, VKLLM_LOGITS_ARGMAX, NULL, &ignore);
            if (st != VKLLM_OK) snprintf(err, err_len, "%s", vkllm_session_error(ss[j]));
            tok[j] = (int32_t)((1 + j) % n_vocab);
        }
        double t0 = now_s();
        for (uint32_t i = 0; i < n && st == VKLLM_OK; i++) {
            for (uint32_t j = 0; j < P; j++) seq[j] = (vkllm_batch_seq){ ss[j], &tok[j], 1, VKLLM_LOGITS_ARGMAX, NULL, -1 };
            st = vkllm_batch_eval(b, seq, P);
            if (st != VKLLM_OK) snprintf(err, err_len, "%s", vkllm_batch_error(b));
            for (uint32_t j = 0; j < P && st == VKLLM_OK; j++) tok[j] = seq[j].argmax;
        }
        tps[r] = n / (now_s() - t0);
    }
    if (st == VKLLM_OK) {
        qsort(tps + 1, reps, sizeof *tps, cmp_double);
        if (depth) snprintf(out->test, sizeof out->test, "tg%u x%u @ d%u", n, P, depth);
        else snprintf(out->test, sizeof out->test, "tg%u x%u", n, P);
        out->n_tokens = n;
        out->parallel = P;
        out->median = reps % 2 ? tps[1 + reps / 2] : 0.5 * (tps[reps / 2] + tps[1 + reps / 2]);
        out->lo = tps[1];
        out->hi = tps[reps];
        out->aggregate = out->median * P;
    }
    free(toks);
    free(seq);
    free(tps);
    return st;
}

int cmd_bench(int argc, char **argv)
{
    bench_opts o = { .reps = 5 };
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.bandwidth) return run_bandwidth(&o);
    if (!o.model && !o.synthetic) o.synthetic = "tiny";
    if (!o.n_pp && !o.n_tg) {
        o.pp[o.n_pp++] = 512;
        o.tg[o.n_tg++] = 128;
    }
    if (!o.n_depth) o.depth[o.n_depth++] = 0;
    if (!o.n_par) o.par[o.n_par++] = 1;
    uint32_t max_par = 1;
    for (uint32_t i = 0; i < o.n_par; i++) max_par = o.par[i] > max_par ? o.par[i] : max_par;
    if (max_par > 64) {
        fprintf(stderr, "vkllm bench: --parallel %u: at most 64 sequences\n", max_par);
        return 2;
    }
    uint32_t n_ctx = 1, max_depth = 0;
    for (uint32_t i = 0; i < o.n_depth; i++) max_depth = o.depth[i] > max_depth ? o.depth[i] : max_depth;
    for (uint32_t i = 0; i < o.n_pp; i++) n_ctx = o.pp[i] > n_ctx ? o.pp[i] : n_ctx;
    for (uint32_t i = 0; i < o.n_tg; i++) n_ctx = o.tg[i] > n_ctx ? o.tg[i] : n_ctx;
    n_ctx += max_depth;

    char err[1024];
    vkllm_model *m = NULL;
    vkllm_session *s = NULL, *par_s[64] = { 0 };
    vkllm_batch *batch = NULL;
    static result res[(1 + MAX_SIZES) * MAX_SIZES * MAX_SIZES]; /* pp and tg x parallel, per depth */
    uint32_t n_res = 0;
    vkllm_load_options lo = { .device = o.device, .n_ctx = n_ctx, .progress = cli_progress, .quant = o.quant,
                              .quant_search = o.quant_search,
                              .synthetic_type = o.type };
    double t0 = now_s();
    vkllm_status st = o.synthetic ? vkllm_model_synthetic(o.synthetic, &lo, &m, err, sizeof err)
                                  : vkllm_model_load(o.model, &lo, &m, err, sizeof err);
    double load_s = now_s() - t0;
    if (st != VKLLM_OK) {
        fprintf(stderr, "vkllm bench: %s\n", err);
        return 1;
    }
    const vkllm_model_info *mi = vkllm_model_get_info(m);
    const vkllm_device_info *dev = vkllm_model_device(m);
    vkllm_memory mem = vkllm_model_memory(mi, n_ctx, o.n_batch);
    /* a token reads every weight once, except the embedding table (one row)
     * unless the output projection shares it */
    uint64_t per_token = mi->decode_bytes_per_token;
    double copy_gbps = 0;
    st = vkllm_model_copy_bandwidth(m, &copy_gbps, err, sizeof err);
    vkllm_session_options so = { .n_ctx = n_ctx, .n_batch = o.n_batch };
    if (st == VKLLM_OK) st = vkllm_session_create(m, &so, &s, err, sizeof err);
    par_s[0] = s;
    for (uint32_t j = 1; j < max_par && st == VKLLM_OK; j++) st = vkllm_session_create(m, &so, &par_s[j], err, sizeof err);
    if (st == VKLLM_OK && max_par > 1) st = vkllm_batch_create(m, max_par, max_par, &batch, err, sizeof err);
    for (uint32_t d = 0; d < o.n_depth && st == VKLLM_OK; d++) {
        for (uint32_t i = 0; i < o.n_pp && st == VKLLM_OK; i++)
            st = run_test(s, mi->n_vocab, 1, o.pp[i], o.depth[d], o.reps, &res[n_res++]);
        for (uint32_t i = 0; i < o.n_tg && st == VKLLM_OK; i++) {
            for (uint32_t k = 0; k < o.n_par && st == VKLLM_OK; k++) {
                result *r = &res[n_res++];
                if (o.par[k] == 1) { /* one sequence: the session's own decode step */
                    st = run_test(s, mi->n_vocab, 0, o.tg[i], o.depth[d], o.reps, r);
                    r->parallel = 1;
                    r->aggregate = r->median;
                } else {
                    st = run_tg_parallel(batch, par_s, o.par[k], mi->n_vocab, o.tg[i], o.depth[d], o.reps, r, err,
                                         sizeof err);
                }
                /* a step reads the weights once, for all of its sequences */
                r->weight_gbps = r->median * per_token / 1e9;
                r->pct_copy = copy_gbps > 0 ? 100 * r->weight_gbps / copy_gbps : 0;
            }
        }
    }
    if (st != VKLLM_OK) {
        fprintf(stderr, "vkllm bench: %s\n", s && *vkllm_session_error(s) ? vkllm_session_error(s) : err);
        for (uint32_t j = 1; j < max_par; j++) vkllm_session_free(par_s[j]);
        vkllm_batch_free(batch);
        vkllm_session_free(s);
        vkllm_model_free(m);
        return 1;
    }
    char b[32];
    const char *name = o.synthetic ? o.synthetic : o.model;
    if (o.json) {
        printf("[\n");
        for (uint32_t i = 0; i < n_res; i++) {
            printf("  {\"test\": \"%s\", \"tokens_per_s\": %.3f, \"min\": %.3f, \"max\": %.3f, \"reps\": %u, \"model\": ",
                   res[i].test, res[i].median, res[i].lo, res[i].hi, o.reps);
            json_str(name);
            printf(", \"type\": ");
            json_str(mi->weight_type);
            if (mi->quant_search[0]) {
                printf(", \"quant_search\": ");
                json_str(mi->quant_search);
            }
            printf(", \"bytes_per_token\": %llu", (unsigned long long)per_token);
            printf(", \"weight_bytes\": %llu, \"device\": ", (unsigned long long)mem.weights);
            json_str(dev->name);
            printf(", \"copy_gbps\": %.2f", copy_gbps);
            if (res[i].test[0] == 't')
                printf(", \"weight_gbps\": %.2f, \"pct_copy_bandwidth\": %.1f, \"parallel\": %u, "
                       "\"aggregate_tokens_per_s\": %.3f",
                       res[i].weight_gbps, res[i].pct_copy, res[i].parallel, res[i].aggregate);
            printf("}%s\n", i + 1 < n_res ? "," : "");
        }
        printf("]\n");
    } else {
        printf("model: %s (%s, %s%s%s%s, %.2f B params, %s of weights), loaded in %.1f s\n", name, mi->format,
               mi->weight_type[0] ? mi->weight_type : "?", mi->quant_search[0] ? ", quantized on load, " : "",
               mi->quant_search, mi->quant_search[0] ? " search" : "", mi->n_params / 1e9,
               cli_bytes(mem.weights, b, sizeof b), load_s);
        printf("device: %s (%s); copy bandwidth %.1f GB/s -> tg limit %.1f t/s (%.2f GB read per token)\n\n", dev->name,
               cli_device_type(dev->type), copy_gbps, copy_gbps * 1e9 / per_token, per_token / 1e9);
        printf("| test | t/s (median) | min .. max | weight GB/s | %% of copy BW | aggregate t/s |\n"
               "|---|---:|---:|---:|---:|---:|\n");
        for (uint32_t i = 0; i < n_res; i++) {
            printf("| %s | %.2f | %.2f .. %.2f |", res[i].test, res[i].median, res[i].lo, res[i].hi);
            if (res[i].test[0] == 't')
                printf(" %.1f | %.1f | %.2f |\n", res[i].weight_gbps, res[i].pct_copy, res[i].aggregate);
            else printf(" | | |\n");
        }
        if (max_par > 1)
            printf("\ntg N xP: P sequences decoding together (one batched step per token); t/s of each "
                   "sequence, aggregate of all\n");
    }
    for (uint32_t j = 1; j < max_par; j++) vkllm_session_free(par_s[j]);
    vkllm_batch_free(batch);
    vkllm_session_free(s);
    s = NULL;
    if (o.profile && !o.json) {
        /* a separate session with timestamps around every dispatch */
        uint32_t n_pp = o.n_pp ? o.pp[0] : 0;
        vkllm_session_options po = { .n_ctx = n_pp + 2, .n_batch = o.n_batch, .max_timed = PROFILE_MAX };
        st = vkllm_session_create(m, &po, &s, err, sizeof err);
        int32_t tok = 1, *toks = malloc((n_pp + 1) * sizeof *toks);
        for (uint32_t i = 0; toks && i < n_pp; i++) toks[i] = (int32_t)((i * 7919u + 1) % mi->n_vocab);
        if (st == VKLLM_OK && n_pp) {
            st = vkllm_session_eval(s, toks, n_pp, VKLLM_LOGITS_ARGMAX, NULL, &tok);
            if (st == VKLLM_OK) print_profile(s, "prefill (last block)");
        }
        if (st == VKLLM_OK) st = vkllm_session_eval(s, &tok, 1, VKLLM_LOGITS_ARGMAX, NULL, &tok); /* records */
        if (st == VKLLM_OK) st = vkllm_session_eval(s, &tok, 1, VKLLM_LOGITS_ARGMAX, NULL, &tok);
        if (st == VKLLM_OK) print_profile(s, "decode step");
        if (st != VKLLM_OK) fprintf(stderr, "vkllm bench: profile: %s\n", s ? vkllm_session_error(s) : err);
        char profile[4096];
        vkllm_model_profile(m, profile, sizeof profile);
        printf("\ndevice profile: %s\n", profile);
        size_t n_tune = vkllm_model_tuning(m, NULL, 0);
        char *tune = malloc(n_tune + 1);
        if (tune && vkllm_model_tuning(m, tune, n_tune + 1) == n_tune) printf("\n%s", tune);
        free(tune);
        free(toks);
        vkllm_session_free(s);
    }
    int bad = cli_validation_failed(m, "bench");
    vkllm_model_free(m);
    return st == VKLLM_OK && !bad ? 0 : 1;
}
