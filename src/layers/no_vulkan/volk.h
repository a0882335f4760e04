/* Layer guard (see meson.build): found first on the include path of every
 * library above src/gpu/, so including Vulkan there fails to compile. */
#error "only src/gpu/ may include Vulkan (<volk.h>): call the gpu_* functions of gpu/gpu.h instead (DESIGN.md, Layers)"
