/* tools/term.h on POSIX systems. */
#include "term.h"

#include <string.h>
#include <unistd.h>

bool term_isatty(int fd) { return isatty(fd) == 1; }

static volatile sig_atomic_t *interrupt_flag;

static void on_interrupt(int sig)
{
    (void)sig;
    if (interrupt_flag) *interrupt_flag = 1;
}

void term_catch_interrupt(volatile sig_atomic_t *flag, bool also_term)
{
    interrupt_flag = flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (also_term) sigaction(SIGTERM, &sa, NULL);
}
