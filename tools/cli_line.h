/* Reading chat messages from the user: libedit line editing, history
 * ($XDG_STATE_HOME/vkllm/history) and bracketed paste on a terminal, plain
 * reads otherwise. The library never links libedit; only the CLI does. */
#ifndef VKLLM_CLI_LINE_H
#define VKLLM_CLI_LINE_H

typedef struct line_reader line_reader;

typedef enum line_result {
    LINE_TEXT,      /* a message was read */
    LINE_EOF,       /* Ctrl-D on an empty line, or the end of the input */
    LINE_INTERRUPT, /* Ctrl-C (talk_interrupted) while reading */
} line_result;

/* editor: use libedit (standard input is a terminal). NULL: out of memory. */
line_reader *line_open(int editor);
void line_close(line_reader *r);

/* Reads one message: a line; lines joined by a trailing \; a """ ... """
 * block; or a multi-line paste, whole. *text is malloc'd (LINE_TEXT only).
 * On LINE_INTERRUPT *was_empty says whether nothing had been typed. */
line_result line_read(line_reader *r, const char *prompt, char **text, int *was_empty);

/* Remembers a single-line message for the Up arrow and saves the history file. */
void line_history_add(line_reader *r, const char *text);

#endif
