/*
 * kubeconfig parsing (reconciler/kube/kube_config.c): a kubeconfig is
 * handed to keelson by whoever deploys it, and a context name can come
 * from the configuration file. The input is the kubeconfig; when it holds
 * a line "#context: NAME", that context is asked for instead of the
 * current one. A loaded configuration must have a server, survive
 * keelson_kube_config_dup, and decode base64 consistently.
 */
#include "config.h"

#include "tests/fuzz/fuzz.h"

#include "core/error.h"
#include "kube/kube_config.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

static void same_string(const char *a, const char *b)
{
	fuzz_assert((a == NULL) == (b == NULL));
	if (a != NULL)
		fuzz_assert(strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	char *context = NULL;
	const char *marker = strstr(text, "#context: ");
	if (marker != NULL) {
		const char *start = marker + strlen("#context: ");
		size_t len = strcspn(start, "\n");
		context = fuzz_strndup((const uint8_t *)start, len);
	}
	struct keelson_kube_config_options opts;
	keelson_kube_config_options_init(&opts);
	opts.context = context;
	/* Relative certificate paths resolve against a directory that does not
	 * exist: nothing may be read from the fuzzing machine. */
	struct keelson_kube_config *cfg = NULL;
	int rc = keelson_kube_config_load_buffer(&cfg, (const char *)data, size,
						 "/nonexistent/fuzz/kubeconfig", &opts);
	if (rc == 0) {
		fuzz_assert(cfg != NULL && cfg->server != NULL && cfg->namespace != NULL);
		struct keelson_kube_config *copy = NULL;
		fuzz_assert(keelson_kube_config_dup(&copy, cfg) == 0);
		same_string(copy->server, cfg->server);
		same_string(copy->token, cfg->token);
		same_string(copy->namespace, cfg->namespace);
		fuzz_assert(copy->ca_data_len == cfg->ca_data_len);
		fuzz_assert(copy->client_key_data_len == cfg->client_key_data_len);
		if (cfg->ca_data_len > 0)
			fuzz_assert(memcmp(copy->ca_data, cfg->ca_data, cfg->ca_data_len) == 0);
		keelson_kube_config_free(copy);
		keelson_kube_config_free(cfg);
	} else {
		fuzz_assert(cfg == NULL);
		fuzz_assert(keelson_error_last()->message[0] != '\0');
	}

	/* The base64 decoder on its own: decoding is deterministic and never
	 * longer than 3/4 of the text. */
	char *decoded = NULL;
	size_t decoded_len = 0;
	if (keelson_kube_base64_decode(&decoded, &decoded_len, text) == 0) {
		fuzz_assert(decoded != NULL && decoded[decoded_len] == '\0');
		fuzz_assert(decoded_len <= strlen(text) / 4 * 3 + 3);
		free(decoded);
	}
	free(context);
	free(text);
	return 0;
}
