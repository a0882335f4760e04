/* Layer guard (see meson.build): found first on the include path of
 * src/model/ and src/text/, so any GPU header (gpu/gpu.h, and ops/ and
 * llama/ headers, which all include it) fails to compile there. */
#error "src/model/ and src/text/ know no GPU: move GPU code to src/llama/ or src/api*.c (DESIGN.md, Layers)"
