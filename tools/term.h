/* The command line's terminal seam: everything tools/ needs from the
 * terminal beyond ISO C, so a port of the CLI replaces tools/term_posix.c
 * (and tools/cli_line.c, the line editor over libedit) only. */
#ifndef VKLLM_TOOLS_TERM_H
#define VKLLM_TOOLS_TERM_H

#include <signal.h>
#include <stdbool.h>

/* Whether stream fd (0 standard input, 1 output, 2 error) is a terminal. */
bool term_isatty(int fd);

/* From now on Ctrl-C (and, with also_term, a request to terminate) sets
 * *flag to 1 instead of ending the process; the program polls the flag. */
void term_catch_interrupt(volatile sig_atomic_t *flag, bool also_term);

#endif
