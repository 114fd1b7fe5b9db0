/* stream_c: stream a completion through the C API.
 *   stream_c MODEL "prompt text" [max_tokens] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nextlm.h"

static bool print_piece(const char* piece, size_t len, void* user) {
  (void)user;
  fwrite(piece, 1, len, stdout);
  fflush(stdout);
  return true;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: stream_c MODEL PROMPT [MAX_TOKENS]\n");
    return 2;
  }
  nlm_model* model = NULL;
  if (nlm_model_load(argv[1], NULL, &model) != NLM_OK) {
    fprintf(stderr, "stream_c: %s\n", nlm_last_error());
    return 1;
  }
  nlm_session* session = NULL;
  if (nlm_session_create(model, NULL, &session) != NLM_OK) {
    fprintf(stderr, "stream_c: %s\n", nlm_model_error(model));
    nlm_model_free(model);
    return 1;
  }
  int rc = 0;
  if (nlm_session_append_text(session, argv[2], false, NULL) != NLM_OK) {
    fprintf(stderr, "stream_c: %s\n", nlm_session_error(session));
    rc = 1;
  } else {
    nlm_generate_params gp = nlm_generate_default_params();
    gp.max_tokens = argc > 3 ? atoi(argv[3]) : 64;
    gp.on_text = print_piece;
    nlm_generate_result r;
    if (nlm_session_generate(session, &gp, &r) != NLM_OK) {
      fprintf(stderr, "\nstream_c: %s\n", nlm_session_error(session));
      rc = 1;
    } else {
      fprintf(stderr, "\n[%lld tokens in %.2f s]\n", (long long)r.generated_tokens, r.seconds);
    }
  }
  nlm_session_free(session);
  nlm_model_free(model);
  return rc;
}
