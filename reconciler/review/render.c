/*
 * A review as text (people at a terminal), Markdown (a pull-request
 * comment) and JSON (machines; schema in docs/pull-requests.md).
 */
#include "config.h"

#include "review/review.h"

#include "core/error.h"
#include "json/json_canonical.h"
#include "layout/problems.h"

#include <stdlib.h>
#include <string.h>

/* Longest value shown inline on a field line; the diff shows it whole. */
#define MAX_INLINE_VALUE 80
/* Diffs up to this many lines are shown open in Markdown; longer ones fold. */
#define MD_OPEN_DIFF_LINES 15
/* GitHub refuses comments over 65,536 characters: diffs stop here. */
#define MD_DIFF_BUDGET 45000
/* Steps listed per system in Markdown; the rest are counted. */
#define MD_MAX_STEPS 200
#define JSON_SCHEMA_VERSION 1

int keelson_review_format_parse(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "text") == 0)
		return KEELSON_REVIEW_TEXT;
	if (strcmp(name, "markdown") == 0 || strcmp(name, "md") == 0)
		return KEELSON_REVIEW_MARKDOWN;
	if (strcmp(name, "json") == 0)
		return KEELSON_REVIEW_JSON;
	return -1;
}

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

static const char *field_change_name(enum keelson_diff_change change)
{
	switch (change) {
	case KEELSON_DIFF_CHANGED: return "changed";
	case KEELSON_DIFF_NOT_LIVE: return "added";
	case KEELSON_DIFF_REMOVED: return "removed";
	}
	return "unknown";
}

static const char *result_name(int exit_code)
{
	switch (exit_code) {
	case KEELSON_REVIEW_EXIT_NOTHING: return "no-changes";
	case KEELSON_REVIEW_EXIT_CHANGES: return "changes";
	case KEELSON_REVIEW_EXIT_REFUSED: return "refused";
	}
	return "error";
}

static const char *result_sentence(int exit_code)
{
	switch (exit_code) {
	case KEELSON_REVIEW_EXIT_NOTHING: return "nothing would change";
	case KEELSON_REVIEW_EXIT_CHANGES: return "changes would be rolled out";
	case KEELSON_REVIEW_EXIT_REFUSED: return "the plan contains a refused or blocked step";
	}
	return "the review is incomplete: a cluster could not be read";
}

/* A value for one line: canonical JSON, shortened, secrets hidden. */
static char *inline_value(const cJSON *v, bool secret)
{
	if (v == NULL)
		return strdup("(absent)");
	if (secret)
		return strdup(KEELSON_DIFF_REDACTED);
	char *text = keelson_json_canonical(v);
	if (text != NULL && strlen(text) > MAX_INLINE_VALUE) {
		size_t cut = MAX_INLINE_VALUE - 3;
		while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		strcpy(text + cut, "...");
	}
	return text;
}

static char *object_label(const struct keelson_review_object *o)
{
	char *s = NULL;
	if (asprintf(&s, "%s %s%s%s", o->kind, o->namespace_, o->namespace_[0] ? "/" : "", o->name) < 0)
		return NULL;
	return s;
}

/* The unified diff of an object, base ("---") against head ("+++"). */
static char *unified_diff(const struct keelson_review_object *o, size_t *lines)
{
	char *text = NULL;
	size_t size = 0;
	*lines = 0;
	if (o->diff == NULL)
		return NULL;
	FILE *mem = open_memstream(&text, &size);
	if (mem == NULL)
		return NULL;
	int rc = keelson_diff_render_unified(mem, o->diff, false);
	fclose(mem);
	if (rc < 0 || text == NULL || text[0] == '\0') {
		free(text);
		return NULL;
	}
	/* The diff engine names the sides as `keelson diff` does (live,
	 * repository); here they are the two revisions. */
	char *out = malloc(size + 64);
	if (out == NULL) {
		free(text);
		return NULL;
	}
	size_t n = 0;
	unsigned header = 0;
	for (const char *p = text; *p != '\0';) {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) + 1 : strlen(p);
		if (header < 3) {
			static const struct { const char *from, *to; } names[] = {
				{"live/", "base/"}, {"repository/", "head/"}};
			for (size_t i = 0; i < len;) {
				bool replaced = false;
				for (size_t k = 0; k < 2 && !replaced; k++) {
					size_t fl = strlen(names[k].from);
					if (i + fl <= len && strncmp(p + i, names[k].from, fl) == 0) {
						memcpy(out + n, names[k].to, strlen(names[k].to));
						n += strlen(names[k].to);
						i += fl;
						replaced = true;
					}
				}
				if (!replaced)
					out[n++] = p[i++];
			}
			header++;
		} else {
			memcpy(out + n, p, len);
			n += len;
		}
		(*lines)++;
		p += len;
	}
	out[n] = '\0';
	free(text);
	return out;
}

static const char *removal_sentence(const struct keelson_review_object *o)
{
	switch (o->prune) {
	case KEELSON_REVIEW_PRUNE_DELETE:
		return "prune is on for this system: it will be deleted";
	case KEELSON_REVIEW_PRUNE_HELD:
		return "prune is off for this system: it stays in the cluster, unmanaged";
	case KEELSON_REVIEW_PRUNE_UNMANAGED:
		return "its system left the repository: keelson stops managing it and deletes nothing";
	case KEELSON_REVIEW_PRUNE_MOVED:
		return "written in another system now: not deleted";
	case KEELSON_REVIEW_PRUNE_NONE:
		break;
	}
	return "";
}

/* --- Text ------------------------------------------------------------------------ */

static void text_field(FILE *out, const struct keelson_review_object *o, const struct keelson_diff_field *f)
{
	bool secret = keelson_diff_is_secret_value(o->group, o->kind, f->pointer);
	char *before = inline_value(f->live, secret), *after = inline_value(f->desired, secret);
	fprintf(out, "      %s:%u:%u: %s: ", f->file ? f->file : o->file, f->line, f->column, f->pointer);
	switch (f->change) {
	case KEELSON_DIFF_CHANGED:
		fprintf(out, "%s -> %s\n", before ? before : "?", after ? after : "?");
		break;
	case KEELSON_DIFF_NOT_LIVE:
		fprintf(out, "added %s\n", after ? after : "?");
		break;
	case KEELSON_DIFF_REMOVED:
		fprintf(out, "removed (was %s)\n", before ? before : "?");
		break;
	}
	free(before);
	free(after);
}

static void text_step(FILE *out, size_t index, const struct keelson_plan_step *s)
{
	fprintf(out, "    %zu. [%s] %s\n", index, keelson_step_kind_name(s->kind), s->description);
	if (s->gate != NULL)
		fprintf(out, "         gate: %s\n", s->gate);
	if (s->kind == KEELSON_STEP_BLOCKED && s->reason != NULL)
		fprintf(out, "         refused: %s\n", s->reason);
	if (s->kind == KEELSON_STEP_WAIT && s->timeout_ms > 0)
		fprintf(out, "         timeout: %llds\n", s->timeout_ms / 1000);
}

static void text_system(FILE *out, const struct keelson_review_system *s, bool live)
{
	fprintf(out, "\ncluster %s, system %s (plugin %s, %s): %s; %zu object%s changed, %zu step%s, %zu refused\n",
		s->cluster, s->system, s->plugin, s->file, keelson_review_change_name(s->change), s->changed,
		plural(s->changed), s->steps, plural(s->steps), s->refused);
	if (s->object_count > 0)
		fprintf(out, "  objects:\n");
	for (size_t i = 0; i < s->object_count; i++) {
		const struct keelson_review_object *o = &s->objects[i];
		char *label = object_label(o);
		fprintf(out, "    %s %s (%s:%u)", keelson_review_change_name(o->change), label ? label : o->name, o->file,
			o->line);
		free(label);
		if (o->change == KEELSON_REVIEW_MOVED)
			fprintf(out, " from system %s (%s:%u)", o->moved_system, o->base_file, o->base_line);
		if (o->change == KEELSON_REVIEW_REMOVED)
			fprintf(out, ": %s", removal_sentence(o));
		if (o->diff != NULL && o->diff->ignored_count > 0)
			fprintf(out, " (%zu more difference%s ignored by spec.ignoreDifferences)", o->diff->ignored_count,
				plural(o->diff->ignored_count));
		fprintf(out, "\n");
		if (o->refused != NULL)
			fprintf(out, "      refused: %s\n", o->refused);
		if (o->change == KEELSON_REVIEW_MODIFIED || o->change == KEELSON_REVIEW_MOVED)
			for (size_t j = 0; o->diff != NULL && j < o->diff->field_count; j++)
				text_field(out, o, &o->diff->fields[j]);
		size_t lines;
		char *diff = unified_diff(o, &lines);
		if (diff != NULL) {
			for (char *line = diff, *next; *line != '\0'; line = next) {
				next = strchr(line, '\n');
				next = next != NULL ? next + 1 : line + strlen(line);
				fprintf(out, "      %.*s", (int)(next - line), line);
			}
			free(diff);
		}
	}
	if (s->ignored_only > 0)
		fprintf(out, "  %zu object%s differ%s only in fields spec.ignoreDifferences covers: not applied\n",
			s->ignored_only, plural(s->ignored_only), s->ignored_only == 1 ? "s" : "");
	switch (s->plan_status) {
	case KEELSON_REVIEW_PLAN_NONE:
		fprintf(out, "  no plan: the system left the repository\n");
		break;
	case KEELSON_REVIEW_PLAN_FAILED:
		if (s->error)
			fprintf(out, "  plan: none: %s\n", s->plan_error ? s->plan_error : "out of memory");
		else
			fprintf(out, "  plan: the plugin cannot plan; the system would be blocked: %s\n",
				s->plan_error ? s->plan_error : "out of memory");
		break;
	case KEELSON_REVIEW_PLAN_OK:
		if (s->plan->count == 0) {
			fprintf(out, "  plan: nothing to do\n");
			break;
		}
		fprintf(out, "  plan%s:\n", live ? " against the cluster" : " (preview: each gate is checked when its step runs)");
		for (size_t i = 0; i < s->plan->count; i++)
			text_step(out, i + 1, &s->plan->steps[i]);
		break;
	}
}

static void render_text(FILE *out, const struct keelson_review *r)
{
	int exit_code = keelson_review_exit_code(r);
	fprintf(out, "keelson plan: %s, base %s (%.12s) -> head %s (%.12s), %s\n", r->repository, r->base_rev,
		r->base_sha, r->head_rev, r->head_sha,
		r->live ? "live: plans against the cluster" : "preview: the base revision stands for the cluster");
	size_t unchanged = 0;
	for (size_t i = 0; i < r->system_count; i++) {
		const struct keelson_review_system *s = &r->systems[i];
		if (s->change == KEELSON_REVIEW_UNCHANGED && s->steps == 0 && s->refused == 0 && !s->error)
			unchanged++;
		else
			text_system(out, s, r->live);
	}
	if (unchanged > 0) {
		fprintf(out, "\nunchanged:");
		for (size_t i = 0; i < r->system_count; i++) {
			const struct keelson_review_system *s = &r->systems[i];
			if (s->change == KEELSON_REVIEW_UNCHANGED && s->steps == 0 && s->refused == 0 && !s->error)
				fprintf(out, " %s/%s", s->cluster, s->system);
		}
		fprintf(out, "\n");
	}
	fprintf(out, "\n%zu system%s, %zu object%s changed, %zu step%s, %zu refused: %s (exit %d)\n", r->system_count,
		plural(r->system_count), r->changed, plural(r->changed), r->steps, plural(r->steps), r->refused,
		result_sentence(exit_code), exit_code);
}

/* --- Markdown --------------------------------------------------------------------- */

/* Text in Markdown prose or a table cell: nothing in it may start
 * formatting, a link, HTML or end the cell. */
static void md_text(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '\n': fputs("<br>", out); break;
		case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '#': case '~': case '!':
			fputc('\\', out);
			fputc(*s, out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

/* An inline code span; code spans take no escapes, so the fence grows past
 * any backtick run inside, and newlines become spaces. */
static void md_code(FILE *out, const char *s)
{
	size_t run = 0, longest = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	char fence[16];
	size_t n = longest + 1 < sizeof(fence) ? longest + 1 : sizeof(fence) - 1;
	memset(fence, '`', n);
	fence[n] = '\0';
	bool pad = s[0] == '`' || (s[0] != '\0' && s[strlen(s) - 1] == '`');
	fprintf(out, "%s%s", fence, pad ? " " : "");
	for (const char *p = s; *p; p++) {
		if (*p == '|')
			fputs("\\|", out); /* GitHub ends a table cell at '|' even inside code */
		else
			fputc(*p == '\n' || *p == '\r' ? ' ' : *p, out);
	}
	fprintf(out, "%s%s", pad ? " " : "", fence);
}

static void md_fenced(FILE *out, const char *lang, const char *body)
{
	size_t run = 0, longest = 0;
	for (const char *p = body; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	size_t n = longest >= 3 ? longest + 1 : 3;
	for (size_t i = 0; i < n; i++)
		fputc('`', out);
	fprintf(out, "%s\n%s", lang, body);
	if (body[0] != '\0' && body[strlen(body) - 1] != '\n')
		fputc('\n', out);
	for (size_t i = 0; i < n; i++)
		fputc('`', out);
	fputc('\n', out);
}

static void md_field(FILE *out, const struct keelson_review_object *o, const struct keelson_diff_field *f)
{
	bool secret = keelson_diff_is_secret_value(o->group, o->kind, f->pointer);
	char *before = inline_value(f->live, secret), *after = inline_value(f->desired, secret);
	char where[1200];
	snprintf(where, sizeof(where), "%s:%u:%u", f->file ? f->file : o->file, f->line, f->column);
	fputs("  - ", out);
	md_code(out, f->pointer);
	fputs(" (", out);
	md_code(out, where);
	fputs("): ", out);
	switch (f->change) {
	case KEELSON_DIFF_CHANGED:
		md_code(out, before ? before : "?");
		fputs(" → ", out);
		md_code(out, after ? after : "?");
		break;
	case KEELSON_DIFF_NOT_LIVE:
		fputs("added ", out);
		md_code(out, after ? after : "?");
		break;
	case KEELSON_DIFF_REMOVED:
		fputs("removed (was ", out);
		md_code(out, before ? before : "?");
		fputs(")", out);
		break;
	}
	fputs("\n", out);
	free(before);
	free(after);
}

static void md_object(FILE *out, const struct keelson_review_object *o, size_t *budget)
{
	char *label = object_label(o);
	char where[1200];
	snprintf(where, sizeof(where), "%s:%u", o->file, o->line);
	fprintf(out, "- **%s** ", keelson_review_change_name(o->change));
	md_code(out, label ? label : o->name);
	fputs(" — ", out);
	md_code(out, where);
	if (o->change == KEELSON_REVIEW_MOVED) {
		fputs(" (from system ", out);
		md_code(out, o->moved_system);
		fputs(")", out);
	}
	if (o->change == KEELSON_REVIEW_REMOVED) {
		fputs(": ", out);
		md_text(out, removal_sentence(o));
	}
	if (o->diff != NULL && o->diff->ignored_count > 0)
		fprintf(out, " (%zu more difference%s ignored by `spec.ignoreDifferences`)", o->diff->ignored_count,
			plural(o->diff->ignored_count));
	fputs("\n", out);
	if (o->refused != NULL) {
		fputs("  - ⛔ **refused**: ", out);
		md_text(out, o->refused);
		fputs("\n", out);
	}
	if (o->change == KEELSON_REVIEW_MODIFIED || o->change == KEELSON_REVIEW_MOVED)
		for (size_t j = 0; o->diff != NULL && j < o->diff->field_count; j++)
			md_field(out, o, &o->diff->fields[j]);
	size_t lines;
	char *diff = unified_diff(o, &lines);
	if (diff != NULL) {
		size_t len = strlen(diff);
		if (len > *budget) {
			fputs("\n  <sub>diff left out: the comment would be too long; run <code>keelson plan</code> "
			      "locally to see it</sub>\n", out);
		} else if (lines <= MD_OPEN_DIFF_LINES) {
			*budget -= len;
			fputs("\n", out);
			md_fenced(out, "diff", diff);
		} else {
			*budget -= len;
			fprintf(out, "\n<details><summary>diff of ");
			md_text(out, label ? label : o->name);
			fprintf(out, " (%zu lines)</summary>\n\n", lines);
			md_fenced(out, "diff", diff);
			fputs("\n</details>\n", out);
		}
		fputs("\n", out);
		free(diff);
	}
	free(label);
}

static void md_step(FILE *out, size_t index, const struct keelson_plan_step *s)
{
	fprintf(out, "%zu. %s**%s** ", index, s->kind == KEELSON_STEP_BLOCKED ? "⛔ " : "",
		keelson_step_kind_name(s->kind));
	md_text(out, s->description);
	if (s->gate != NULL) {
		fputs("<br>gate: ", out);
		md_text(out, s->gate);
	}
	if (s->kind == KEELSON_STEP_BLOCKED && s->reason != NULL) {
		fputs("<br>**refused**: ", out);
		md_text(out, s->reason);
	}
	if (s->kind == KEELSON_STEP_WAIT && s->timeout_ms > 0)
		fprintf(out, "<br>timeout: %llds", s->timeout_ms / 1000);
	fputs("\n", out);
}

static bool system_listed(const struct keelson_review_system *s)
{
	return s->change != KEELSON_REVIEW_UNCHANGED || s->steps > 0 || s->refused > 0 || s->error;
}

static void render_markdown(FILE *out, const struct keelson_review *r)
{
	int exit_code = keelson_review_exit_code(r);
	char base[64], head[64];
	snprintf(base, sizeof(base), "%.12s", r->base_sha);
	snprintf(head, sizeof(head), "%.12s", r->head_sha);
	fputs("### keelson plan: ", out);
	md_code(out, base);
	fputs(" → ", out);
	md_code(out, head);
	fputs("\n\n", out);
	fputs("Repository ", out);
	md_code(out, r->repository);
	fputs(", base ", out);
	md_code(out, r->base_rev);
	fputs(", head ", out);
	md_code(out, r->head_rev);
	fputs(r->live ? ". Plans made against the live cluster.\n\n"
		      : ". Preview: the base revision stands for the cluster; gates are checked when each step runs.\n\n",
	      out);
	fprintf(out, "%s **%s**: %zu object%s changed, %zu step%s, %zu refused (exit %d)\n\n",
		exit_code == KEELSON_REVIEW_EXIT_REFUSED ? "⛔" : exit_code == KEELSON_REVIEW_EXIT_CHANGES ? "📝" : "✅",
		result_sentence(exit_code), r->changed, plural(r->changed), r->steps, plural(r->steps), r->refused,
		exit_code);
	size_t listed = 0;
	for (size_t i = 0; i < r->system_count; i++)
		listed += system_listed(&r->systems[i]);
	if (listed > 0) {
		fputs("| cluster | system | plugin | change | objects changed | steps | refused |\n", out);
		fputs("|---|---|---|---|---:|---:|---:|\n", out);
		for (size_t i = 0; i < r->system_count; i++) {
			const struct keelson_review_system *s = &r->systems[i];
			if (!system_listed(s))
				continue;
			fputs("| ", out);
			md_text(out, s->cluster);
			fputs(" | ", out);
			md_text(out, s->system);
			fputs(" | ", out);
			md_text(out, s->plugin);
			fprintf(out, " | %s | %zu | %zu | %s%zu |\n", keelson_review_change_name(s->change), s->changed,
				s->steps, s->refused > 0 ? "⛔ " : "", s->refused);
		}
		fputs("\n", out);
	}
	if (listed < r->system_count) {
		fputs("Unchanged:", out);
		const char *sep = " ";
		for (size_t i = 0; i < r->system_count; i++) {
			const struct keelson_review_system *s = &r->systems[i];
			if (system_listed(s))
				continue;
			char name[600];
			snprintf(name, sizeof(name), "%s/%s", s->cluster, s->system);
			fputs(sep, out);
			md_code(out, name);
			sep = ", ";
		}
		fputs("\n\n", out);
	}
	size_t budget = MD_DIFF_BUDGET;
	for (size_t i = 0; i < r->system_count; i++) {
		const struct keelson_review_system *s = &r->systems[i];
		if (!system_listed(s))
			continue;
		fputs("#### ", out);
		md_text(out, s->cluster);
		fputs(" / ", out);
		md_text(out, s->system);
		fputs(" (plugin ", out);
		md_code(out, s->plugin);
		fprintf(out, ", %s)\n\n", keelson_review_change_name(s->change));
		if (s->object_count > 0) {
			fprintf(out, "**Objects** (%zu changed, %zu unchanged)\n\n", s->object_count, s->unchanged_objects);
			for (size_t j = 0; j < s->object_count; j++)
				md_object(out, &s->objects[j], &budget);
			fputs("\n", out);
		}
		if (s->ignored_only > 0)
			fprintf(out, "%zu object%s differ%s only in fields `spec.ignoreDifferences` covers: not applied.\n\n",
				s->ignored_only, plural(s->ignored_only), s->ignored_only == 1 ? "s" : "");
		switch (s->plan_status) {
		case KEELSON_REVIEW_PLAN_NONE:
			fputs("**Plan**: none, the system left the repository.\n\n", out);
			break;
		case KEELSON_REVIEW_PLAN_FAILED:
			fputs(s->error ? "**Plan**: ❌ none: " : "**Plan**: ⛔ the plugin cannot plan; the system would be blocked: ",
			      out);
			md_text(out, s->plan_error ? s->plan_error : "out of memory");
			fputs("\n\n", out);
			break;
		case KEELSON_REVIEW_PLAN_OK:
			if (s->plan->count == 0) {
				fputs("**Plan**: nothing to do.\n\n", out);
				break;
			}
			fprintf(out, "**Plan** (%zu step%s%s)\n\n", s->plan->count, plural(s->plan->count),
				r->live ? ", against the cluster" : ", preview");
			for (size_t j = 0; j < s->plan->count && j < MD_MAX_STEPS; j++)
				md_step(out, j + 1, &s->plan->steps[j]);
			if (s->plan->count > MD_MAX_STEPS)
				fprintf(out, "\n… and %zu more steps (run <code>keelson plan</code> to see them all)\n",
					s->plan->count - MD_MAX_STEPS);
			fputs("\n", out);
			break;
		}
	}
	fputs("<sub>keelson " PACKAGE_VERSION "</sub>\n", out);
}

/* --- JSON --------------------------------------------------------------------------- */

static void add_string_or_null(cJSON *o, const char *key, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, key, value);
	else
		cJSON_AddNullToObject(o, key);
}

static cJSON *field_json(const struct keelson_review_object *o, const struct keelson_diff_field *f)
{
	cJSON *j = cJSON_CreateObject();
	if (j == NULL)
		return NULL;
	bool secret = keelson_diff_is_secret_value(o->group, o->kind, f->pointer);
	cJSON_AddStringToObject(j, "pointer", f->pointer);
	cJSON_AddStringToObject(j, "change", field_change_name(f->change));
	if (f->live == NULL)
		cJSON_AddNullToObject(j, "before");
	else if (secret)
		cJSON_AddStringToObject(j, "before", KEELSON_DIFF_REDACTED);
	else
		cJSON_AddItemToObject(j, "before", cJSON_Duplicate(f->live, 1));
	if (f->desired == NULL)
		cJSON_AddNullToObject(j, "after");
	else if (secret)
		cJSON_AddStringToObject(j, "after", KEELSON_DIFF_REDACTED);
	else
		cJSON_AddItemToObject(j, "after", cJSON_Duplicate(f->desired, 1));
	cJSON_AddStringToObject(j, "file", f->file ? f->file : o->file);
	cJSON_AddNumberToObject(j, "line", f->line);
	cJSON_AddNumberToObject(j, "column", f->column);
	cJSON_AddBoolToObject(j, "exact", f->position_exact);
	return j;
}

static cJSON *object_json(const struct keelson_review_object *o)
{
	cJSON *j = cJSON_CreateObject();
	if (j == NULL)
		return NULL;
	cJSON_AddStringToObject(j, "change", keelson_review_change_name(o->change));
	cJSON_AddStringToObject(j, "apiVersion", o->api_version);
	cJSON_AddStringToObject(j, "kind", o->kind);
	cJSON_AddStringToObject(j, "namespace", o->namespace_);
	cJSON_AddStringToObject(j, "name", o->name);
	cJSON_AddStringToObject(j, "file", o->file);
	cJSON_AddNumberToObject(j, "line", o->line);
	add_string_or_null(j, "baseFile", o->base_file);
	if (o->base_file != NULL)
		cJSON_AddNumberToObject(j, "baseLine", o->base_line);
	else
		cJSON_AddNullToObject(j, "baseLine");
	add_string_or_null(j, "movedFrom", o->change == KEELSON_REVIEW_MOVED ? o->moved_system : NULL);
	add_string_or_null(j, "prune", o->change == KEELSON_REVIEW_REMOVED
		? (o->prune == KEELSON_REVIEW_PRUNE_DELETE ? "delete"
		   : o->prune == KEELSON_REVIEW_PRUNE_HELD ? "keep-prune-off" : "keep-unmanaged")
		: NULL);
	add_string_or_null(j, "refused", o->refused);
	cJSON *fields = cJSON_AddArrayToObject(j, "fields");
	if (o->change == KEELSON_REVIEW_MODIFIED || o->change == KEELSON_REVIEW_MOVED)
		for (size_t i = 0; fields != NULL && o->diff != NULL && i < o->diff->field_count; i++)
			cJSON_AddItemToArray(fields, field_json(o, &o->diff->fields[i]));
	cJSON_AddNumberToObject(j, "ignoredFields", o->diff != NULL ? (double)o->diff->ignored_count : 0);
	size_t lines;
	char *diff = unified_diff(o, &lines);
	add_string_or_null(j, "diff", diff);
	free(diff);
	return j;
}

static cJSON *step_json(size_t index, const struct keelson_plan_step *s)
{
	cJSON *j = cJSON_CreateObject();
	if (j == NULL)
		return NULL;
	cJSON_AddNumberToObject(j, "index", (double)index);
	cJSON_AddStringToObject(j, "kind", keelson_step_kind_name(s->kind));
	cJSON_AddStringToObject(j, "description", s->description);
	add_string_or_null(j, "gate", s->gate);
	add_string_or_null(j, "reason", s->kind == KEELSON_STEP_BLOCKED ? s->reason : NULL);
	if (s->kind == KEELSON_STEP_WAIT || s->kind == KEELSON_STEP_HTTP)
		cJSON_AddNumberToObject(j, "timeoutSeconds", (double)(s->timeout_ms / 1000));
	else
		cJSON_AddNullToObject(j, "timeoutSeconds");
	cJSON *target = NULL;
	if (s->kind == KEELSON_STEP_APPLY && s->object != NULL) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(s->object, "metadata");
		target = cJSON_CreateObject();
		add_string_or_null(target, "apiVersion", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s->object, "apiVersion")));
		add_string_or_null(target, "kind", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s->object, "kind")));
		const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
		cJSON_AddStringToObject(target, "namespace", ns ? ns : "");
		add_string_or_null(target, "name", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name")));
	} else if (s->name != NULL) {
		target = cJSON_CreateObject();
		add_string_or_null(target, "apiVersion", s->api_version);
		add_string_or_null(target, "kind", s->kind_name != NULL ? s->kind_name
					   : s->kind == KEELSON_STEP_HTTP ? (s->http_target == KEELSON_PROXY_SERVICE ? "Service" : "Pod")
					   : NULL);
		cJSON_AddStringToObject(target, "namespace", s->namespace_ ? s->namespace_ : "");
		cJSON_AddStringToObject(target, "name", s->name);
	}
	if (target != NULL)
		cJSON_AddItemToObject(j, "target", target);
	else
		cJSON_AddNullToObject(j, "target");
	return j;
}

static cJSON *system_json(const struct keelson_review_system *s)
{
	cJSON *j = cJSON_CreateObject();
	if (j == NULL)
		return NULL;
	cJSON_AddStringToObject(j, "cluster", s->cluster);
	cJSON_AddStringToObject(j, "system", s->system);
	cJSON_AddStringToObject(j, "plugin", s->plugin);
	cJSON_AddStringToObject(j, "change", keelson_review_change_name(s->change));
	cJSON_AddStringToObject(j, "file", s->file);
	cJSON_AddBoolToObject(j, "prune", s->prune);
	cJSON *counts = cJSON_AddObjectToObject(j, "counts");
	cJSON_AddNumberToObject(counts, "objectsChanged", (double)s->changed);
	cJSON_AddNumberToObject(counts, "objectsUnchanged", (double)s->unchanged_objects);
	cJSON_AddNumberToObject(counts, "objectsIgnoredOnly", (double)s->ignored_only);
	cJSON_AddNumberToObject(counts, "steps", (double)s->steps);
	cJSON_AddNumberToObject(counts, "refused", (double)s->refused);
	cJSON *objects = cJSON_AddArrayToObject(j, "objects");
	for (size_t i = 0; objects != NULL && i < s->object_count; i++)
		cJSON_AddItemToArray(objects, object_json(&s->objects[i]));
	cJSON *plan = cJSON_AddObjectToObject(j, "plan");
	cJSON_AddStringToObject(plan, "status", s->plan_status == KEELSON_REVIEW_PLAN_OK ? "ok"
						: s->plan_status == KEELSON_REVIEW_PLAN_FAILED ? "failed" : "none");
	add_string_or_null(plan, "error", s->plan_status == KEELSON_REVIEW_PLAN_FAILED ? s->plan_error : NULL);
	cJSON_AddBoolToObject(plan, "clusterUnreadable", s->error);
	cJSON *steps = cJSON_AddArrayToObject(plan, "steps");
	for (size_t i = 0; steps != NULL && s->plan != NULL && i < s->plan->count; i++)
		cJSON_AddItemToArray(steps, step_json(i + 1, &s->plan->steps[i]));
	return j;
}

static cJSON *revision_json(const char *rev, const char *sha)
{
	cJSON *j = cJSON_CreateObject();
	add_string_or_null(j, "revision", rev);
	add_string_or_null(j, "commit", sha != NULL && sha[0] != '\0' ? sha : NULL);
	return j;
}

cJSON *keelson_review_to_json(const struct keelson_review *r)
{
	cJSON *root = cJSON_CreateObject();
	if (root == NULL)
		return NULL;
	int exit_code = keelson_review_exit_code(r);
	cJSON_AddNumberToObject(root, "schemaVersion", JSON_SCHEMA_VERSION);
	cJSON_AddStringToObject(root, "repository", r->repository);
	cJSON_AddItemToObject(root, "base", revision_json(r->base_rev, r->base_sha));
	cJSON_AddItemToObject(root, "head", revision_json(r->head_rev, r->head_sha));
	cJSON_AddStringToObject(root, "mode", r->live ? "live" : "preview");
	cJSON_AddStringToObject(root, "result", result_name(exit_code));
	cJSON_AddNumberToObject(root, "exitCode", exit_code);
	if (r->errors > 0)
		cJSON_AddStringToObject(root, "error", "a cluster could not be read; see systems[].plan.error");
	else
		cJSON_AddNullToObject(root, "error");
	cJSON_AddArrayToObject(root, "problems");
	cJSON *summary = cJSON_AddObjectToObject(root, "summary");
	cJSON_AddNumberToObject(summary, "systems", (double)r->system_count);
	cJSON_AddNumberToObject(summary, "objectsChanged", (double)r->changed);
	cJSON_AddNumberToObject(summary, "steps", (double)r->steps);
	cJSON_AddNumberToObject(summary, "refused", (double)r->refused);
	cJSON_AddNumberToObject(summary, "errors", (double)r->errors);
	cJSON *systems = cJSON_AddArrayToObject(root, "systems");
	for (size_t i = 0; systems != NULL && i < r->system_count; i++)
		cJSON_AddItemToArray(systems, system_json(&r->systems[i]));
	return root;
}

static int print_json(FILE *out, cJSON *root)
{
	char *text = root != NULL ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	if (text == NULL)
		return keelson_error_set(KEELSON_ENOMEM, "out of memory printing the review as JSON");
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}

int keelson_review_render(FILE *out, const struct keelson_review *review, enum keelson_review_format format)
{
	switch (format) {
	case KEELSON_REVIEW_TEXT:
		render_text(out, review);
		return 0;
	case KEELSON_REVIEW_MARKDOWN:
		render_markdown(out, review);
		return 0;
	case KEELSON_REVIEW_JSON:
		return print_json(out, keelson_review_to_json(review));
	}
	return keelson_error_set(KEELSON_EINVALID, "unknown output format");
}

/* --- Errors ---------------------------------------------------------------------- */

static void problem_where(char *buf, size_t size, const struct keelson_problem *p)
{
	if (p->file[0] == '\0')
		snprintf(buf, size, "(revision)");
	else if (p->line == 0)
		snprintf(buf, size, "%s", p->file);
	else
		snprintf(buf, size, "%s:%u:%u", p->file, p->line, p->column);
}

int keelson_review_render_error(FILE *out, enum keelson_review_format format, const char *repository,
				const char *base_rev, const char *base_sha, const char *head_rev,
				const char *head_sha, const char *message,
				const struct keelson_problem_list *problems)
{
	size_t count = problems != NULL ? problems->count : 0;
	char where[1200];
	if (format == KEELSON_REVIEW_JSON) {
		cJSON *root = cJSON_CreateObject();
		if (root == NULL)
			return keelson_error_set(KEELSON_ENOMEM, "out of memory");
		cJSON_AddNumberToObject(root, "schemaVersion", JSON_SCHEMA_VERSION);
		add_string_or_null(root, "repository", repository);
		cJSON_AddItemToObject(root, "base", revision_json(base_rev, base_sha));
		cJSON_AddItemToObject(root, "head", revision_json(head_rev, head_sha));
		cJSON_AddStringToObject(root, "result", "error");
		cJSON_AddNumberToObject(root, "exitCode", KEELSON_REVIEW_EXIT_ERROR);
		add_string_or_null(root, "error", message);
		cJSON *list = cJSON_AddArrayToObject(root, "problems");
		for (size_t i = 0; list != NULL && i < count; i++) {
			const struct keelson_problem *p = &problems->items[i];
			cJSON *item = cJSON_CreateObject();
			cJSON_AddStringToObject(item, "file", p->file);
			cJSON_AddNumberToObject(item, "line", p->line);
			cJSON_AddNumberToObject(item, "column", p->column);
			cJSON_AddStringToObject(item, "code", keelson_problem_code_name(p->code));
			cJSON_AddStringToObject(item, "message", p->message);
			cJSON_AddItemToArray(list, item);
		}
		cJSON_AddArrayToObject(root, "systems");
		return print_json(out, root);
	}
	if (format == KEELSON_REVIEW_MARKDOWN) {
		fputs("### keelson plan: ❌ error\n\n", out);
		fputs("Repository ", out);
		md_code(out, repository ? repository : "");
		fputs(", base ", out);
		md_code(out, base_rev ? base_rev : "");
		fputs(", head ", out);
		md_code(out, head_rev ? head_rev : "");
		fputs(": ", out);
		md_text(out, message);
		fputs("\n\n", out);
		for (size_t i = 0; i < count; i++) {
			const struct keelson_problem *p = &problems->items[i];
			problem_where(where, sizeof(where), p);
			fputs("- ", out);
			md_code(out, where);
			fputs(": ", out);
			md_text(out, p->message);
			fprintf(out, " [%s]\n", keelson_problem_code_name(p->code));
		}
		if (count > 0)
			fputs("\nNothing in this revision would be applied until these are fixed.\n", out);
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		const struct keelson_problem *p = &problems->items[i];
		problem_where(where, sizeof(where), p);
		fprintf(out, "%s: %s [%s]\n", where, p->message, keelson_problem_code_name(p->code));
	}
	fprintf(out, "keelson plan: %s\n", message);
	return 0;
}
