/* volk's implementation (Debian libvulkan-volk-dev ships it as a source file). */
#include <volk.c>
