/* SentencePiece-BPE encoding and streaming decoding; see tokenizer.h.
 * Loading lives in tokenizer_load.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

#define META "\xe2\x96\x81" /* U+2581 '▁' */
#define META_LEN 3
#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* ---------------------------------------------------------------- UTF-8 */

/* > 0: a complete valid character of that many bytes; 0: s[0] cannot start
 * one (or a later byte breaks it); -1: a valid start cut short by the end. */
static int utf8_scan(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        else if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else
        return 0;
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return -1;
        uint8_t b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return 0;
    }
    return need;
}

uint32_t tok_utf8_len(const uint8_t *s, size_t n)
{
    int r = utf8_scan(s, n);
    return r > 0 ? (uint32_t)r : 0;
}

/* ---------------------------------------------------------------- hash tables */

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

static uint64_t hash_u64(uint64_t x) /* splitmix64 finalizer */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* hash of the bytes of two adjacent characters, never 0 */
static uint64_t char_pair_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    h = hash_u64(h ^ n);
    return h ? h : 1;
}

static bool char_pair_known(const tokenizer *t, const char *s, size_t n)
{
    uint64_t h = char_pair_hash(s, n);
    for (uint32_t i = (uint32_t)h & t->char_pairs_mask;; i = (i + 1) & t->char_pairs_mask) {
        if (t->char_pairs[i] == h) return true;
        if (t->char_pairs[i] == 0) return false;
    }
}

static uint32_t table_cap(uint32_t n) /* a power of two >= 2n, >= 16 */
{
    uint32_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap *= 2;
    return cap;
}

static int32_t str_map_get(const tokenizer *t, const char *s, size_t n)
{
    const tok_str_map *m = &t->pieces;
    if (!m->slot) return -1;
    uint32_t h = hash_bytes(s, n);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i];
        if (id < 0) return -1;
        if (m->hash[i] == h && t->len[id] == n && memcmp(t->blob + t->off[id], s, n) == 0) return id;
    }
}

/* puts key into a table with room (no growth) */
static void pair_insert(tok_pair_map *m, tok_pair_slot e)
{
    for (uint32_t i = (uint32_t)hash_u64(e.key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i].key == e.key) return; /* a repeated rule keeps its first (best) rank */
        if (m->slot[i].key == UINT64_MAX) {
            m->slot[i] = e;
            m->n++;
            return;
        }
    }
}

int tok_pair_add(tok_pair_map *m, int32_t left, int32_t right, int32_t rank, int32_t id)
{
    if (!m->slot || 2 * (uint64_t)(m->n + 1) > (uint64_t)m->mask + 1) { /* keep at most half full */
        uint64_t cap = m->slot ? 2 * ((uint64_t)m->mask + 1) : 16;
        if (cap > (1ull << 31)) return 0;
        tok_pair_slot *old = m->slot, *slot = malloc((size_t)cap * sizeof *slot);
        if (!slot) return 0;
        for (uint64_t i = 0; i < cap; i++) slot[i] = (tok_pair_slot){ UINT64_MAX, 0, 0 };
        uint32_t old_cap = old ? m->mask + 1 : 0;
        m->slot = slot;
        m->mask = (uint32_t)(cap - 1);
        m->n = 0;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i].key != UINT64_MAX) pair_insert(m, old[i]);
        free(old);
    }
    pair_insert(m, (tok_pair_slot){ (uint64_t)(uint32_t)left << 32 | (uint32_t)right, rank, id });
    return 1;
}

const tok_pair_slot *tok_pair_get(const tok_pair_map *m, int32_t left, int32_t right)
{
    if (!m->slot) return NULL;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = (uint32_t)hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slot[i].key == key) return &m->slot[i];
        if (m->slot[i].key == UINT64_MAX) return NULL;
    }
}

tokenizer *tok_alloc(uint32_t n)
{
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_vocab = n;
    t->off = calloc(n ? n : 1, sizeof *t->off);
    t->len = calloc(n ? n : 1, sizeof *t->len);
    t->score = calloc(n ? n : 1, sizeof *t->score);
    t->type = calloc(n ? n : 1, sizeof *t->type);
    t->bos = t->eos = t->unk = -1;
    if (!t->off || !t->len || !t->score || !t->type) {
        tok_free(t);
        return NULL;
    }
    return t;
}

static bool is_special(const tokenizer *t, uint32_t id)
{
    uint8_t ty = t->type[id];
    return t->len[id] && (ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_UNKNOWN || ty == TOK_TYPE_USER_DEFINED);
}

int tok_index(tokenizer *t)
{
    uint32_t cap = table_cap(t->n_vocab);
    t->pieces.slot = malloc((size_t)cap * sizeof *t->pieces.slot);
    t->pieces.hash = malloc((size_t)cap * sizeof *t->pieces.hash);
    if (!t->pieces.slot || !t->pieces.hash) return 0;
    t->pieces.mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) t->pieces.slot[i] = -1;
    t->max_piece_len = 0;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->blob + t->off[id];
        uint32_t h = hash_bytes(s, t->len[id]);
        if (t->len[id] > t->max_piece_len) t->max_piece_len = t->len[id];
        for (uint32_t i = h & t->pieces.mask;; i = (i + 1) & t->pieces.mask) {
            int32_t o = t->pieces.slot[i];
            if (o < 0) {
                t->pieces.slot[i] = (int32_t)id;
                t->pieces.hash[i] = h;
                break;
            }
            if (t->pieces.hash[i] == h && t->len[o] == t->len[id] && memcmp(t->blob + t->off[o], s, t->len[id]) == 0)
                break; /* duplicate text: the first id keeps it */
        }
    }
    /* adjacent character pairs inside pieces */
    uint64_t n_pairs = 0;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        const uint8_t *p = (const uint8_t *)t->blob + t->off[id];
        for (uint32_t i = 0; i < t->len[id]; n_pairs++) {
            uint32_t cl = tok_utf8_len(p + i, t->len[id] - i);
            i += cl ? cl : 1;
        }
    }
    if (n_pairs > (1u << 30)) return 0;
    cap = table_cap((uint32_t)n_pairs);
    free(t->char_pairs);
    t->char_pairs = calloc(cap, sizeof *t->char_pairs);
    if (!t->char_pairs) return 0;
    t->char_pairs_mask = cap - 1;
    for (uint32_t id = 0; id < t->n_vocab; id++) {
        const uint8_t *p = (const uint8_t *)t->blob + t->off[id];
        uint32_t n = t->len[id], prev = 0, cl = 0;
        for (uint32_t i = 0; i < n; prev = i, i += cl) {
            cl = tok_utf8_len(p + i, n - i);
            if (!cl) cl = 1;
            if (i == 0) continue;
            uint64_t h = char_pair_hash((const char *)p + prev, i + cl - prev);
            for (uint32_t k = (uint32_t)h & t->char_pairs_mask;; k = (k + 1) & t->char_pairs_mask) {
                if (t->char_pairs[k] == h) break;
                if (t->char_pairs[k] == 0) {
                    t->char_pairs[k] = h;
                    break;
                }
            }
        }
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = str_map_get(t, s, 6);
    }
    /* specials: control, unknown and user-defined pieces, non-empty, in id order */
    uint32_t n = 0;
    uint64_t bytes = 0;
    for (uint32_t id = 0; id < t->n_vocab; id++)
        if (is_special(t, id)) n++, bytes += t->len[id];
    free(t->special);
    t->special = malloc((n ? n : 1) * sizeof *t->special);
    if (!t->special) return 0;
    t->n_special = n;
    n = 0;
    for (uint32_t id = 0; id < t->n_vocab; id++)
        if (is_special(t, id)) {
            uint8_t st = t->strip ? t->strip[id] : 0;
            t->special[n++] = (tok_special){ (int32_t)id, st & 1, (st >> 1) & 1 };
        }
    /* their trie: at most one node per byte, plus the root */
    if (bytes >= (1u << 30)) return 0;
    uint32_t max_nodes = (uint32_t)bytes + 1;
    cap = table_cap(max_nodes);
    free(t->trie_any), free(t->trie_user), free(t->trie_key), free(t->trie_child);
    t->trie_any = malloc((size_t)max_nodes * sizeof *t->trie_any);
    t->trie_user = malloc((size_t)max_nodes * sizeof *t->trie_user);
    t->trie_key = malloc((size_t)cap * sizeof *t->trie_key);
    t->trie_child = calloc(cap, sizeof *t->trie_child);
    if (!t->trie_any || !t->trie_user || !t->trie_key || !t->trie_child) return 0;
    t->trie_mask = cap - 1;
    t->n_trie = 1;
    t->trie_any[0] = t->trie_user[0] = -1;
    for (uint32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k].id;
        const uint8_t *p = (const uint8_t *)t->blob + t->off[id];
        uint32_t node = 0;
        for (uint32_t i = 0; i < t->len[id]; i++) {
            uint64_t key = (uint64_t)node << 8 | p[i];
            uint32_t j = (uint32_t)hash_u64(key) & t->trie_mask;
            while (t->trie_child[j] && t->trie_key[j] != key) j = (j + 1) & t->trie_mask;
            if (!t->trie_child[j]) { /* a new node */
                t->trie_key[j] = key;
                t->trie_child[j] = t->n_trie;
                t->trie_any[t->n_trie] = t->trie_user[t->n_trie] = -1;
                t->n_trie++;
            }
            node = t->trie_child[j];
        }
        if (t->trie_any[node] < 0) t->trie_any[node] = (int32_t)k; /* the same text twice: the first id wins */
        if (t->type[id] == TOK_TYPE_USER_DEFINED && t->trie_user[node] < 0) t->trie_user[node] = (int32_t)k;
    }
    return 1;
}

/* The child of trie node `node` by `byte`, or 0 when there is none. */
static uint32_t trie_step(const tokenizer *t, uint32_t node, uint8_t byte)
{
    uint64_t key = (uint64_t)node << 8 | byte;
    for (uint32_t j = (uint32_t)hash_u64(key) & t->trie_mask; t->trie_child[j]; j = (j + 1) & t->trie_mask)
        if (t->trie_key[j] == key) return t->trie_child[j];
    return 0;
}

void tok_free(tokenizer *t)
{
    if (!t) return;
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->score);
    free(t->type);
    free(t->pieces.slot);
    free(t->pieces.hash);
    free(t->merges.slot);
    free(t->special);
    free(t->trie_any);
    free(t->trie_user);
    free(t->trie_key);
    free(t->trie_child);
    free(t->strip);
    free(t->char_pairs);
    free(t);
}

/* ---------------------------------------------------------------- queries */

uint32_t tok_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tok_bos(const tokenizer *t) { return t->bos; }
int32_t tok_eos(const tokenizer *t) { return t->eos; }
int32_t tok_unk(const tokenizer *t) { return t->unk; }
bool tok_add_bos(const tokenizer *t) { return t->add_bos; }
bool tok_add_eos(const tokenizer *t) { return t->add_eos; }

const char *tok_piece(const tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab) return NULL;
    if (len) *len = t->len[id];
    return t->blob + t->off[id];
}

tok_type tok_piece_type(const tokenizer *t, int32_t id)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab) return (tok_type)0;
    return (tok_type)t->type[id];
}

int32_t tok_find(const tokenizer *t, const char *s, size_t len) { return str_map_get(t, s, len); }

/* ---------------------------------------------------------------- encoding */

typedef struct sym {
    uint32_t start;   /* byte offset in the normalized segment */
    uint32_t n;       /* bytes; 0 once merged into its left neighbour */
    int32_t prev, next;
    int32_t id;       /* piece id; -1: not a piece (score mode: falls back to bytes / <unk>) */
    bool unk;         /* rank mode: an <unk> standing for unknown characters (fuse_unk extends it) */
    bool byte;        /* rank mode: a <0xXX> piece standing for one byte of a character that is no piece */
} sym;

typedef struct bigram {
    float key;        /* smaller merges first: -score (score mode) or the rule's rank */
    int32_t left;     /* index of the left symbol; ties go to the leftmost */
    uint32_t n;       /* bytes of the merged symbol: a mismatch later means the entry is stale */
    int32_t id;       /* the merged piece */
} bigram;

typedef struct enc {
    const tokenizer *t;
    char *norm;       /* [norm_cap] the normalized segment */
    size_t norm_cap;
    sym *sym;         /* [sym_cap] */
    size_t sym_cap;
    bigram *heap;     /* [heap_cap] binary min-heap by (key, left) */
    size_t n_heap, heap_cap;
    int32_t *ids;     /* [ids_cap] the output */
    size_t n_ids, ids_cap;
    bool oom;
    bool no_unk;      /* a character could not be encoded: no byte piece and no <unk> */
} enc;

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

static void emit(enc *e, int32_t id)
{
    if (e->oom) return;
    if (!grow((void **)&e->ids, &e->ids_cap, e->n_ids + 1, sizeof *e->ids)) {
        e->oom = true;
        return;
    }
    e->ids[e->n_ids++] = id;
}

static bool before(const bigram *a, const bigram *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(enc *e, bigram b)
{
    if (!grow((void **)&e->heap, &e->heap_cap, e->n_heap + 1, sizeof *e->heap)) {
        e->oom = true;
        return;
    }
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = b;
}

static bigram heap_pop(enc *e)
{
    bigram top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&e->heap[c + 1], &e->heap[c])) c++;
        if (!before(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

/* Pieces that BPE may produce in score mode (SentencePiece leaves control,
 * unknown, byte and unused pieces out of its piece table). */
static bool mergeable(const tokenizer *t, int32_t id)
{
    return t->type[id] == TOK_TYPE_NORMAL || t->type[id] == TOK_TYPE_USER_DEFINED;
}

static void try_pair(enc *e, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return;
    const tokenizer *t = e->t;
    const sym *a = &e->sym[l], *b = &e->sym[r];
    if (t->split_meta && b->n >= META_LEN && memcmp(e->norm + b->start, META, META_LEN) == 0) return;
    uint32_t n = a->n + b->n;
    if (t->mode == TOK_MERGE_SCORE) {
        if (n > t->max_piece_len) return;
        int32_t id = str_map_get(t, e->norm + a->start, n);
        if (id >= 0 && mergeable(t, id)) heap_push(e, (bigram){ -t->score[id], l, n, id });
    } else {
        if (a->id < 0 || b->id < 0) return;
        const tok_pair_slot *p = tok_pair_get(&t->merges, a->id, b->id);
        if (p) heap_push(e, (bigram){ (float)p->rank, l, n, p->id });
    }
}

static void add_sym(enc *e, size_t *n_sym, uint32_t start, uint32_t n, int32_t id, bool unk, bool byte)
{
    sym *s = &e->sym[*n_sym];
    *s = (sym){ start, n, (int32_t)*n_sym - 1, (int32_t)*n_sym + 1, id, unk, byte };
    (*n_sym)++;
}

/* BPE over the linked symbols first..last: best pair first, the neighbours
 * of each merge re-paired. */
static void merge_run(enc *e, size_t first, size_t last)
{
    e->n_heap = 0;
    for (size_t i = first; i < last; i++) try_pair(e, (int32_t)i, (int32_t)i + 1);
    while (e->n_heap && !e->oom) {
        bigram b = heap_pop(e);
        sym *a = &e->sym[b.left];
        if (a->n == 0 || a->next < 0) continue;
        sym *r = &e->sym[a->next];
        if (a->n + r->n != b.n) continue; /* one side changed since this pair was queued */
        a->n = b.n;
        a->id = b.id;
        a->unk = a->byte = false;
        r->n = 0;
        a->next = r->next;
        if (r->next >= 0) e->sym[r->next].prev = b.left;
        try_pair(e, a->prev, b.left);
        try_pair(e, b.left, a->next);
    }
}

/* Normalizes, merges and emits one stretch of text between special tokens.
 * at_start: it begins at offset 0 of the caller's text. */
static void encode_segment(enc *e, const char *text, size_t n, bool at_start)
{
    const tokenizer *t = e->t;
    if (n == 0 || e->oom) return;

    /* normalize: dummy prefix, ' ' -> '▁' */
    size_t cap = META_LEN + n * META_LEN;
    if (!grow((void **)&e->norm, &e->norm_cap, cap, 1)) {
        e->oom = true;
        return;
    }
    bool starts_meta = (t->space_to_meta && text[0] == ' ') || (n >= META_LEN && memcmp(text, META, META_LEN) == 0);
    bool pre = t->prefix == TOK_PREFIX_EVERY || (t->prefix == TOK_PREFIX_META_ALWAYS && !starts_meta) ||
               (t->prefix == TOK_PREFIX_META_FIRST && !starts_meta && at_start);
    size_t m = 0;
    if (pre) memcpy(e->norm, META, META_LEN), m = META_LEN;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ' && t->space_to_meta) memcpy(e->norm + m, META, META_LEN), m += META_LEN;
        else e->norm[m++] = text[i];
    }
    if (m > UINT32_MAX / 2) { /* offsets are 32-bit: refuse rather than wrap (4 GiB segments) */
        e->oom = true;
        return;
    }

    /* one symbol per UTF-8 character (each invalid byte on its own) */
    if (!grow((void **)&e->sym, &e->sym_cap, m, sizeof *e->sym)) {
        e->oom = true;
        return;
    }
    const uint8_t *u = (const uint8_t *)e->norm;
    size_t n_sym = 0;
    for (size_t i = 0; i < m;) {
        uint32_t cl = tok_utf8_len(u + i, m - i);
        if (!cl) cl = 1;
        int32_t id = str_map_get(t, e->norm + i, cl);
        if (t->mode == TOK_MERGE_SCORE) {
            if (id >= 0 && !mergeable(t, id)) id = -1;
            add_sym(e, &n_sym, (uint32_t)i, cl, id, false, false);
        } else if (id >= 0) {
            add_sym(e, &n_sym, (uint32_t)i, cl, id, false, false);
        } else { /* HF: byte fallback when every byte has a piece, else <unk> */
            bool bytes = t->byte_fallback;
            for (uint32_t k = 0; k < cl; k++) bytes = bytes && t->byte_id[u[i + k]] >= 0;
            if (bytes) {
                for (uint32_t k = 0; k < cl; k++) add_sym(e, &n_sym, (uint32_t)(i + k), 1, t->byte_id[u[i + k]], false, true);
            } else if (t->unk < 0) {
                e->no_unk = true;
            } else if (t->fuse_unk && n_sym && e->sym[n_sym - 1].unk) {
                e->sym[n_sym - 1].n += cl;
            } else {
                add_sym(e, &n_sym, (uint32_t)i, cl, t->unk, true, false);
            }
        }
        i += cl;
    }
    if (!n_sym) return;
    e->sym[n_sym - 1].next = -1;

    /* cut where no piece holds the two characters: merge each part on its own */
    for (size_t i = 0; i + 1 < n_sym; i++) {
        const sym *a = &e->sym[i], *b = &e->sym[i + 1];
        if (a->id < 0 || b->id < 0 || a->unk || b->unk || a->byte || b->byte) continue; /* chars that are pieces only */
        if (!char_pair_known(t, e->norm + a->start, a->n + b->n)) {
            e->sym[i].next = -1;
            e->sym[i + 1].prev = -1;
        }
    }
    for (size_t first = 0, last; first < n_sym && !e->oom; first = last + 1) {
        for (last = first; e->sym[last].next >= 0;) last++;
        merge_run(e, first, last);
    }

    for (size_t i = 0; i < n_sym; i++) {
        const sym *x = &e->sym[i];
        if (x->n == 0) continue; /* merged into its left neighbour */
        if (x->id >= 0) {
            emit(e, x->id);
            continue;
        }
        /* score mode: a character that is no piece -> its bytes, or one <unk> */
        bool bytes = t->byte_fallback;
        for (uint32_t k = 0; k < x->n; k++) bytes = bytes && t->byte_id[u[x->start + k]] >= 0;
        if (bytes)
            for (uint32_t k = 0; k < x->n; k++) emit(e, t->byte_id[u[x->start + k]]);
        else if (t->unk >= 0)
            emit(e, t->unk);
        else
            e->no_unk = true;
    }
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

vkllm_status tok_encode(const tokenizer *t, const char *text, size_t len, unsigned flags, int32_t **ids,
                        size_t *n_ids, char *err, size_t err_len)
{
    if (!t || (!text && len) || !ids || !n_ids) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "tok_encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    enc e = { .t = t };
    if ((flags & TOK_ENCODE_BOS) && t->bos >= 0) emit(&e, t->bos);

    /* cut the text at special tokens (leftmost, longest), encode the pieces
     * between; at each position the trie is walked as far as the text
     * follows it, so the work per position is bounded by the longest special */
    const int32_t *term = flags & TOK_ENCODE_SPECIAL ? t->trie_any : t->trie_user;
    size_t seg = 0, p = 0;
    while (p < len && !e.oom) {
        int32_t best_k = -1;
        size_t best_len = 0;
        uint32_t node = 0;
        for (size_t q = p; q < len && (node = trie_step(t, node, (uint8_t)text[q])); q++)
            if (term[node] >= 0) best_k = term[node], best_len = q + 1 - p;
        if (best_k < 0) {
            p++;
            continue;
        }
        int32_t best = t->special[best_k].id;
        size_t end = p;
        if (t->special[best_k].lstrip)
            while (end > seg && is_space(text[end - 1])) end--;
        encode_segment(&e, text + seg, end - seg, seg == 0);
        emit(&e, best);
        p += best_len;
        if (t->special[best_k].rstrip)
            while (p < len && is_space(text[p])) p++;
        seg = p;
    }
    encode_segment(&e, text + seg, len - seg, seg == 0);
    if ((flags & TOK_ENCODE_EOS) && t->eos >= 0) emit(&e, t->eos);
    if (!e.oom && !e.ids) e.oom = !grow((void **)&e.ids, &e.ids_cap, 1, sizeof *e.ids);

    free(e.norm);
    free(e.sym);
    free(e.heap);
    if (e.oom) {
        free(e.ids);
        return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "tok_encode: out of memory (%zu bytes of text)", len);
    }
    if (e.no_unk) {
        free(e.ids);
        return errf(VKLLM_ERR_UNSUPPORTED, err, err_len,
                        "tok_encode: the text has a character the vocabulary cannot express (no byte pieces, no <unk>)");
    }
    *ids = e.ids;
    *n_ids = e.n_ids;
    return VKLLM_OK;
}

/* ---------------------------------------------------------------- decoding */

void tok_decoder_init(tok_decoder *d, const tokenizer *t, unsigned flags)
{
    memset(d, 0, sizeof *d);
    d->t = t;
    d->flags = flags;
}

size_t tok_decode_bound(const tokenizer *t) { return (size_t)t->max_piece_len + 16; }

/* The byte of a "<0xHH>" piece, or -1. */
static int byte_value(const tokenizer *t, int32_t id)
{
    const char *s = t->blob + t->off[id];
    if (t->len[id] != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Writes the complete characters among the pending bytes; with `final`, an
 * unfinished one too (as U+FFFD per byte). */
static size_t drain(tok_decoder *d, char *out, size_t o, bool final)
{
    while (d->n_pending) {
        int r = utf8_scan(d->pending, d->n_pending);
        if (r < 0 && !final) break;
        uint32_t used = r > 0 ? (uint32_t)r : 1;
        if (r > 0) memcpy(out + o, d->pending, used), o += used;
        else memcpy(out + o, REPLACEMENT, 3), o += 3;
        d->n_pending -= used;
        memmove(d->pending, d->pending + used, d->n_pending);
    }
    return o;
}

/* out[from..o) is new text: the first text of the stream loses a leading space. */
static size_t written(tok_decoder *d, char *out, size_t from, size_t o)
{
    if (d->started || o == from) return o;
    d->started = true;
    if (d->t->strip_space && out[from] == ' ') {
        memmove(out + from, out + from + 1, o - from - 1);
        o--;
    }
    return o;
}

vkllm_status tok_decoder_next(tok_decoder *d, int32_t id, char *out, size_t out_cap, size_t *n_out)
{
    const tokenizer *t = d->t;
    *n_out = 0;
    if (id < 0 || (uint32_t)id >= t->n_vocab || out_cap < tok_decode_bound(t)) return VKLLM_ERR_INVALID_ARG;
    size_t o = 0;
    uint8_t ty = t->type[id];
    if (ty == TOK_TYPE_CONTROL || ty == TOK_TYPE_UNKNOWN) {
        if (!(d->flags & TOK_DECODE_SPECIAL)) return VKLLM_OK; /* skipped: bytes around it still join */
        o = drain(d, out, o, true);
        memcpy(out + o, t->blob + t->off[id], t->len[id]);
        o += t->len[id];
        *n_out = written(d, out, 0, o);
        return VKLLM_OK;
    }
    int b = ty == TOK_TYPE_BYTE ? byte_value(t, id) : -1;
    if (b >= 0) {
        d->pending[d->n_pending++] = (uint8_t)b; /* <= 3 were pending: drain leaves no complete prefix */
        o = drain(d, out, o, false);
        *n_out = written(d, out, 0, o);
        return VKLLM_OK;
    }
    o = drain(d, out, o, true);
    const char *s = t->blob + t->off[id];
    for (uint32_t i = 0; i < t->len[id];) {
        if (t->len[id] - i >= META_LEN && memcmp(s + i, META, META_LEN) == 0) {
            out[o++] = ' ';
            i += META_LEN;
        } else {
            out[o++] = s[i++];
        }
    }
    *n_out = written(d, out, 0, o);
    return VKLLM_OK;
}

vkllm_status tok_decoder_flush(tok_decoder *d, char *out, size_t out_cap, size_t *n_out)
{
    *n_out = 0;
    if (out_cap < tok_decode_bound(d->t)) return VKLLM_ERR_INVALID_ARG;
    *n_out = written(d, out, 0, drain(d, out, 0, true));
    return VKLLM_OK;
}

vkllm_status tok_decode(const tokenizer *t, const int32_t *ids, size_t n_ids, unsigned flags, char **text,
                        size_t *len, char *err, size_t err_len)
{
    if (!t || (!ids && n_ids) || !text) return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "tok_decode: NULL argument");
    *text = NULL;
    size_t bound = tok_decode_bound(t), n = 0, cap = 0;
    char *s = NULL;
    tok_decoder d;
    tok_decoder_init(&d, t, flags);
    for (size_t i = 0; i <= n_ids; i++) {
        if (!grow((void **)&s, &cap, n + bound + 1, 1)) {
            free(s);
            return errf(VKLLM_ERR_OUT_OF_MEMORY, err, err_len, "tok_decode: out of memory");
        }
        size_t k = 0;
        if (i == n_ids) {
            tok_decoder_flush(&d, s + n, bound, &k);
        } else if (tok_decoder_next(&d, ids[i], s + n, bound, &k)) {
            free(s);
            return errf(VKLLM_ERR_INVALID_ARG, err, err_len, "tok_decode: id %" PRId32 " at position %zu is not in [0, %u)",
                            ids[i], i, t->n_vocab);
        }
        n += k;
    }
    s[n] = 0;
    *text = s;
    if (len) *len = n;
    return VKLLM_OK;
}
