/* Shared between tokenizer.c (encode, decode, lookups) and tokenizer_load.c
 * (GGUF and tokenizer.json readers). */
#ifndef VKLLM_TEXT_TOKENIZER_INTERNAL_H
#define VKLLM_TEXT_TOKENIZER_INTERNAL_H

#include "text/tokenizer.h"
#include "util/errf.h"

#define TOK_MAX_VOCAB (1u << 24)  /* ids must fit; also keeps merge ranks exact in a float */
#define TOK_MAX_PIECE_BYTES 4096  /* a longer piece is refused as malformed */

/* How adjacent symbols are chosen for merging. */
typedef enum tok_merge_mode {
    TOK_MERGE_SCORE = 0, /* GGUF: concatenation is a piece; highest piece score first */
    TOK_MERGE_RANK = 1,  /* HF: (left id, right id) is a merge rule; lowest rule index first */
} tok_merge_mode;

/* Where the '▁' dummy prefix goes (SentencePiece add_dummy_prefix). */
typedef enum tok_prefix {
    TOK_PREFIX_NONE = 0,
    TOK_PREFIX_EVERY = 1,      /* every text segment (GGUF add_space_prefix; HF Prepend normalizer) */
    TOK_PREFIX_META_ALWAYS = 2, /* HF Metaspace "always": every segment not already starting with '▁' */
    TOK_PREFIX_META_FIRST = 3,  /* HF Metaspace "first": only the segment at the start of the text */
} tok_prefix;

/* Open-addressing table: piece text -> id. Slots hold ids (-1 empty); the
 * text is the tokenizer's own piece storage. */
typedef struct tok_str_map {
    uint32_t mask;    /* capacity - 1 (capacity a power of two, at least 2x the entries) */
    int32_t *slot;    /* [mask + 1] */
    uint32_t *hash;   /* [mask + 1]: hash of the piece in slot (speeds up misses) */
} tok_str_map;

/* Open-addressing table: (left id, right id) -> (rank, merged id). */
typedef struct tok_pair_slot {
    uint64_t key;     /* left << 32 | right; UINT64_MAX when empty */
    int32_t rank;
    int32_t id;
} tok_pair_slot;

typedef struct tok_pair_map {
    uint32_t mask;
    uint32_t n;          /* rules held (at most half the slots: it grows as rules are added) */
    tok_pair_slot *slot; /* [mask + 1] */
} tok_pair_map;

/* A piece matched literally in the raw text before BPE. */
typedef struct tok_special {
    int32_t id;
    uint8_t lstrip, rstrip; /* HF: swallow whitespace before / after the match */
} tok_special;

struct tokenizer {
    uint32_t n_vocab;
    char *blob;             /* all pieces, each followed by a NUL */
    uint32_t *off;          /* [n_vocab] piece start in blob */
    uint32_t *len;          /* [n_vocab] piece length in bytes */
    float *score;           /* [n_vocab] GGUF scores (0 for HF) */
    uint8_t *type;          /* [n_vocab] tok_type */
    uint8_t *strip;         /* [n_vocab] HF added tokens: 1 lstrip, 2 rstrip; NULL: none */
    uint32_t max_piece_len; /* bytes */

    int32_t bos, eos, unk;  /* -1 when absent */
    bool add_bos, add_eos;
    tok_merge_mode mode;
    tok_prefix prefix;
    bool space_to_meta;     /* ' ' -> '▁' */
    bool split_meta;        /* HF Metaspace split: no merge across a '▁' that starts a word */
    bool byte_fallback;     /* characters that are no piece become <0xXX> pieces */
    bool fuse_unk;          /* HF: consecutive unknown characters give one <unk> */
    bool strip_space;       /* decoder drops the text's first space */
    int32_t byte_id[256];   /* id of <0xXX>, -1 when absent */

    tok_str_map pieces;
    /* Hashes of every two adjacent characters inside any piece. Between two
     * characters whose pair is not here no symbol can ever span, so the text
     * is cut there and each part merged on its own (small heaps). A hash
     * collision only means a missed cut. */
    uint64_t *char_pairs;   /* [char_pairs_mask + 1], 0 = empty */
    uint32_t char_pairs_mask;
    tok_pair_map merges;    /* TOK_MERGE_RANK only */

    uint32_t n_special;
    tok_special *special;   /* [n_special], in id order */
    /* A trie of the specials' bytes, so that finding the longest one at a
     * text position walks at most the longest special, however many there
     * are. Node 0 is the root; an edge (node, byte) -> child lives in an
     * open-addressing table keyed node << 8 | byte (child 0 = empty slot). */
    uint32_t n_trie;
    int32_t *trie_any;      /* [n_trie] first special (index into special[]) spelled by the path to here, -1 none */
    int32_t *trie_user;     /* [n_trie] the same among the user-defined ones (matched without TOK_ENCODE_SPECIAL) */
    uint64_t *trie_key;     /* [trie_mask + 1] */
    uint32_t *trie_child;   /* [trie_mask + 1] */
    uint32_t trie_mask;
};

/* Allocates the per-piece arrays of an empty tokenizer for n pieces (zeroed);
 * NULL when out of memory. */
tokenizer *tok_alloc(uint32_t n);

/* Builds t->pieces from the pieces (first occurrence wins), byte_id[],
 * max_piece_len and the special-token table from t->type. 0 when out of memory. */
int tok_index(tokenizer *t);

/* Adds a merge rule (a repeated pair keeps its first rank); the table grows
 * with the rules actually added. 0 when out of memory. */
int tok_pair_add(tok_pair_map *m, int32_t left, int32_t right, int32_t rank, int32_t id);
/* The slot of (left, right) or NULL. */
const tok_pair_slot *tok_pair_get(const tok_pair_map *m, int32_t left, int32_t right);

/* Length of the UTF-8 character at s (n > 0 bytes left): 1..4 when valid
 * (no overlongs, surrogates or values past U+10FFFF), 0 when s[0] does not
 * begin a valid character. */
uint32_t tok_utf8_len(const uint8_t *s, size_t n);

#endif
