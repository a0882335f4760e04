/* The smallest program that embeds vkllm: load a model, answer one message
 * through its chat template, streaming the reply. Built on include/vkllm.h
 * only.
 *
 *   cc embed.c -lvkllm ...   (in this tree: meson builds build/examples/vkllm-embed)
 *   vkllm-embed MODEL "Hello, who are you?"
 */
#include <stdio.h>
#include <string.h>

#include "vkllm.h"

static int print_token(int32_t token, const char *text, size_t len, void *user)
{
    (void)token, (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0; /* non-zero would stop the generation */
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL MESSAGE\n", argv[0]);
        return 2;
    }
    char err[1024];
    vkllm_model *model = NULL;
    vkllm_session *session = NULL;
    vkllm_load_options lo = { .n_ctx = 1024 }; /* device: $VKLLM_DEVICE or the best one */
    if (vkllm_model_load(argv[1], &lo, &model, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    vkllm_session_options so = { .n_ctx = 1024 };
    if (vkllm_session_create(model, &so, &session, err, sizeof err) != VKLLM_OK) {
        fprintf(stderr, "%s\n", err);
        vkllm_model_free(model);
        return 1;
    }
    vkllm_message msg = { VKLLM_ROLE_USER, argv[2] };
    vkllm_generate_options go = {
        .sampling = vkllm_sampling_greedy(), /* or vkllm_sampling_default() with a .seed */
        .max_tokens = 64,
        .on_token = print_token,
    };
    vkllm_generate_stats st;
    vkllm_status s = vkllm_chat(session, NULL, &msg, 1, &go, &st); /* NULL: the model's own template */
    if (s != VKLLM_OK) fprintf(stderr, "\n%s\n", vkllm_session_error(session));
    else fprintf(stderr, "\n[%u prompt tokens, %u generated, %.1f tokens/s]\n", st.n_prompt, st.n_generated,
                 st.gen_s > 0 ? st.n_generated / st.gen_s : 0.0);
    vkllm_session_free(session);
    vkllm_model_free(model);
    return s == VKLLM_OK ? 0 : 1;
}
