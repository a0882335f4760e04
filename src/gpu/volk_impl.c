/* volk's implementation (Debian libvulkan-volk-dev ships it as a source file). */
#include <volk.c>

/* volk's device-table generator with a caller's vkGetDeviceProcAddr:
 * volkLoadDeviceTable itself calls through volk's global vkGetDeviceProcAddr,
 * which only volkLoadInstance (a global rewrite per instance) would set. */
typedef struct gpu_volk_loader_ctx {
    VkDevice dev;
    PFN_vkGetDeviceProcAddr gdpa;
} gpu_volk_loader_ctx;

static PFN_vkVoidFunction gpu_volk_load(void *context, const char *name)
{
    const gpu_volk_loader_ctx *c = context;
    return c->gdpa(c->dev, name);
}

void gpu_volk_device_table(struct VolkDeviceTable *table, VkDevice dev, PFN_vkGetDeviceProcAddr gdpa);
void gpu_volk_device_table(struct VolkDeviceTable *table, VkDevice dev, PFN_vkGetDeviceProcAddr gdpa)
{
    gpu_volk_loader_ctx c = { dev, gdpa };
    volkGenLoadDeviceTable(table, &c, gpu_volk_load);
}
