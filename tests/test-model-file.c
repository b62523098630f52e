/* test-model-file.c: the loader accepts a valid file and refuses a table of broken and hostile ones with an
 * error (never a crash or an out-of-bounds read: run under ASan/UBSan). */
#include <json-glib/json-glib.h>
#include <string.h>

#include "ib-error.h"
#include "ib-model-file.h"
#include "ib-test-model.h"

static GBytes *
valid_model (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  return ib_test_model_build (&spec);
}

static guint64
header_length (GBytes *bytes)
{
  const guint8 *data = g_bytes_get_data (bytes, NULL);
  guint64 length = 0;
  for (int i = 7; i >= 0; i--)
    length = (length << 8) | data[i];
  return length;
}

/* Reassembles a file from a header text and the original file's data section. */
static GBytes *
assemble (const char *header,
          GBytes     *original)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (original, &size);
  guint64 old_length = header_length (original);
  guint64 length = strlen (header);
  GByteArray *file = g_byte_array_new ();
  guint8 prefix[8];
  for (int i = 0; i < 8; i++)
    prefix[i] = (guint8) (length >> (8 * i));
  g_byte_array_append (file, prefix, 8);
  g_byte_array_append (file, (const guint8 *) header, (guint) length);
  g_byte_array_append (file, data + 8 + old_length, (guint) (size - 8 - old_length));
  return g_byte_array_free_to_bytes (file);
}

typedef void (*HeaderEdit) (JsonObject *header);

static GBytes *
edit_header (GBytes    *original,
             HeaderEdit edit)
{
  const char *data = g_bytes_get_data (original, NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, data + 8, (gssize) header_length (original), NULL));
  JsonObject *header = json_node_get_object (json_parser_get_root (parser));
  edit (header);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, json_parser_get_root (parser));
  g_autofree char *text = json_generator_to_data (generator, NULL);
  return assemble (text, original);
}

typedef void (*ConfigEdit) (JsonObject *config);

static ConfigEdit current_config_edit;

static void
apply_config_edit (JsonObject *header)
{
  JsonObject *metadata = json_object_get_object_member (header, "__metadata__");
  const char *text = json_object_get_string_member (metadata, "imagebart.config");
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  current_config_edit (json_node_get_object (json_parser_get_root (parser)));
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, json_parser_get_root (parser));
  g_autofree char *edited = json_generator_to_data (generator, NULL);
  json_object_set_string_member (metadata, "imagebart.config", edited);
}

static GBytes *
edit_config (GBytes    *original,
             ConfigEdit edit)
{
  current_config_edit = edit;
  return edit_header (original, apply_config_edit);
}

static void
assert_refused (GBytes     *bytes,
                int         code,
                const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "test.safetensors", &error);
  g_assert_null (file);
  g_assert_nonnull (error);
  g_assert_true (error->domain == IB_ERROR);
  if (code >= 0)
    g_assert_cmpint (error->code, ==, code);
  if (fragment != NULL && strstr (error->message, fragment) == NULL)
    g_error ("expected \"%s\" in the error \"%s\"", fragment, error->message);
}

static void
test_valid (void)
{
  g_autoptr (GBytes) bytes = valid_model ();
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "valid", &error);
  g_assert_no_error (error);
  const IbModelConfig *config = ib_model_file_get_config (file);
  g_assert_cmpint (config->n_levels, ==, 2);
  g_assert_cmpint (config->n_codes, ==, 10);
  g_assert_cmpint (config->token_height, ==, 4);
  g_assert_cmpfloat (config->betas[2], ==, 1.0);
  g_assert_cmpint (config->levels[0].variant, ==, IB_VARIANT_RESIDUAL_SCALED);
  g_assert_cmpint (config->vqgan.remap[0], ==, 15);
  const IbTensor *t = ib_model_file_lookup (file, "level2.transformer.decoder.to_logits.weight");
  g_assert_nonnull (t);
  g_assert_cmpint (t->shape[0], ==, 10);
  g_assert_cmpint (t->shape[1], ==, 40);
  g_assert_null (ib_model_file_lookup (file, "level3.transformer.decoder.to_logits.weight"));
}

static void
test_joint_and_half_precision (void)
{
  for (IbDType dtype = IB_DTYPE_F32; dtype <= IB_DTYPE_BF16; dtype++)
    {
      IbTestModelSpec spec;
      ib_test_model_spec_init (&spec);
      spec.joint = TRUE;
      spec.dtype = dtype;
      g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
      g_autoptr (GError) error = NULL;
      g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "joint", &error);
      g_assert_no_error (error);
      g_assert_cmpint (ib_model_file_lookup (file, "joint.transformer.log_scalors")->dtype, ==, dtype);
    }
}

static void
test_gpt_level (void)
{
  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.gpt_top = TRUE;
  spec.n_unmasked = 1;
  g_autoptr (GBytes) bytes = ib_test_model_build (&spec);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "gpt", &error);
  g_assert_no_error (error);
  const IbLevelConfig *top = &ib_model_file_get_config (file)->levels[1];
  g_assert_cmpint (top->variant, ==, IB_VARIANT_GPT);
  g_assert_cmpint (top->dim_head, ==, 10);
  g_assert_cmpint (top->dec_max_seq_len, ==, 16);
  g_assert_cmpint (top->n_unmasked, ==, 1);
  const IbTensor *pos = ib_model_file_lookup (file, "gpt.transformer.pos_emb");
  g_assert_cmpint (pos->n_dims, ==, 3);
  g_assert_nonnull (ib_model_file_lookup (file, "gpt.transformer.blocks.1.attn.proj.bias"));
}

/* A header whose length is not a multiple of the dtype size leaves tensors misaligned in the mapping:
 * the loader must give aligned data with the same values. */
static void
test_misaligned_data (void)
{
  g_autoptr (GBytes) bytes = valid_model ();
  const char *data = g_bytes_get_data (bytes, NULL);
  g_autofree char *header = g_strndup (data + 8, header_length (bytes));
  g_strchomp (header);
  g_autofree char *shifted = g_strconcat (header, " ", NULL);
  if ((8 + strlen (shifted)) % 4 == 0)
    {
      g_free (g_steal_pointer (&shifted));
      shifted = g_strconcat (header, "  ", NULL);
    }
  g_autoptr (GBytes) moved = assemble (shifted, bytes);
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) a = ib_model_file_new_from_bytes (bytes, "a", &error);
  g_autoptr (IbModelFile) b = ib_model_file_new_from_bytes (moved, "b", &error);
  g_assert_no_error (error);
  const IbTensor *ta = ib_model_file_lookup (a, "first_stage_model.quantize.embedding.weight");
  const IbTensor *tb = ib_model_file_lookup (b, "first_stage_model.quantize.embedding.weight");
  g_assert_cmpuint ((guintptr) tb->data % 4, ==, 0);
  g_assert_cmpmem (ta->data, ta->n_elements * 4, tb->data, tb->n_elements * 4);
}

static void
test_container_sizes (void)
{
  g_autoptr (GBytes) valid = valid_model ();
  gsize size;
  const guint8 *data = g_bytes_get_data (valid, &size);

  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  assert_refused (empty, IB_ERROR_CORRUPT, "too short");
  g_autoptr (GBytes) seven = g_bytes_new (data, 7);
  assert_refused (seven, IB_ERROR_CORRUPT, "too short");

  guint8 zero_length[16] = { 0 };
  g_autoptr (GBytes) zero = g_bytes_new (zero_length, sizeof zero_length);
  assert_refused (zero, IB_ERROR_CORRUPT, "header length");

  guint8 huge_length[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}' };
  g_autoptr (GBytes) huge = g_bytes_new (huge_length, sizeof huge_length);
  assert_refused (huge, IB_ERROR_CORRUPT, "header length");

  guint8 past_end[16] = { 100, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
  g_autoptr (GBytes) past = g_bytes_new (past_end, sizeof past_end);
  assert_refused (past, IB_ERROR_CORRUPT, "past the end");

  /* Every truncation of a valid file fails cleanly. */
  for (gsize cut = 0; cut < size; cut += MAX (1, size / 97))
    {
      g_autoptr (GBytes) truncated = g_bytes_new (data, cut);
      assert_refused (truncated, -1, NULL);
    }
}

static void
test_header_text (void)
{
  g_autoptr (GBytes) valid = valid_model ();
  static const struct { const char *header; const char *fragment; } cases[] = {
    { "not json at all", "not valid JSON" },
    { "[1, 2, 3]", "not a JSON object" },
    { "{\"__metadata__\": 5}", "__metadata__ is not an object" },
    { "{\"__metadata__\": {\"other\": \"x\"}}", "imagebart.config" },
    { "{\"__metadata__\": {\"imagebart.config\": 7}}", "imagebart.config" },
    { "{}", "no __metadata__" },
    { "{\"__metadata__\": {\"imagebart.config\": \"{nope\"}}", "not valid JSON" },
    { "{\"__metadata__\": {\"imagebart.config\": \"{\\\"format\\\": \\\"other\\\"}\"}}", "format" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", "no __metadata__" },
    { "{\"a\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", "dtype" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}}", "positive" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", "positive" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}}", "positive" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1], \"data_offsets\": [0, 4]}}", "dimensions" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 4]}}", "dimensions" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
      "overflows" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2147483648, 2147483648], \"data_offsets\": [0, 4]}}", "overflows" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", "outside" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 99999999999]}}", "outside" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "need 8" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", "data_offsets" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", "data_offsets" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
      "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}, "
      "\"__metadata__\": {\"imagebart.config\": \"{}\"}}", "overlap" },
    { "{\"a\": 5}", "not described by an object" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bytes = assemble (cases[i].header, valid);
      assert_refused (bytes, -1, cases[i].fragment);
    }

  /* Brackets nested far deeper than any model file needs must not reach the JSON parser's recursion. */
  g_autoptr (GString) nested = g_string_new ("{\"a\": ");
  for (int i = 0; i < 200000; i++)
    g_string_append_c (nested, '[');
  g_autoptr (GBytes) deep = assemble (nested->str, valid);
  assert_refused (deep, IB_ERROR_CORRUPT, "nests deeper");
}

static void
drop_tensor (JsonObject *header)
{
  json_object_remove_member (header, "level1.transformer.encoder.attn_layers.layers.1.1.net.2.bias");
}

static void
reshape_tensor (JsonObject *header)
{
  JsonObject *entry = json_object_get_object_member (header, "first_stage_model.quantize.embedding.weight");
  JsonArray *shape = json_object_get_array_member (entry, "shape");
  /* 16 x 6 -> 6 x 16: same byte count, wrong shape. */
  json_array_remove_element (shape, 0);
  json_array_add_int_element (shape, 16);
}

static void
integer_tensor (JsonObject *header)
{
  JsonObject *entry = json_object_get_object_member (header, "level2.transformer.log_scalors");
  json_object_set_string_member (entry, "dtype", "I32");
}

static void
test_tensor_table (void)
{
  g_autoptr (GBytes) valid = valid_model ();
  g_autoptr (GBytes) missing = edit_header (valid, drop_tensor);
  assert_refused (missing, IB_ERROR_INVALID, "missing");
  g_autoptr (GBytes) reshaped = edit_header (valid, reshape_tensor);
  assert_refused (reshaped, IB_ERROR_INVALID, "shape [6, 16]");
  g_autoptr (GBytes) integers = edit_header (valid, integer_tensor);
  assert_refused (integers, IB_ERROR_INVALID, "I32");
}

static JsonObject *
level (JsonObject *config,
       int         index)
{
  return json_array_get_object_element (json_object_get_array_member (config, "levels"), index);
}

static void edit_dim_zero (JsonObject *c) { json_object_set_int_member (level (c, 0), "dim", 0); }
static void edit_dim_huge (JsonObject *c) { json_object_set_int_member (level (c, 0), "dim", G_GINT64_CONSTANT (1) << 40); }
static void edit_dim_fraction (JsonObject *c) { json_object_set_double_member (level (c, 0), "dim", 40.5); }
static void edit_dim_string (JsonObject *c) { json_object_set_string_member (level (c, 0), "dim", "40"); }
static void edit_heads_mismatch (JsonObject *c) { json_object_set_int_member (level (c, 1), "enc_heads", 4); }
static void edit_variant (JsonObject *c) { json_object_set_string_member (level (c, 0), "variant", "funky"); }
static void edit_top_k (JsonObject *c) { json_object_set_int_member (level (c, 0), "top_k", 11); }
static void edit_temperature (JsonObject *c) { json_object_set_double_member (level (c, 0), "temperature", -1); }
static void edit_level_twice (JsonObject *c) { json_object_set_int_member (level (c, 1), "t", 1); }
static void edit_level_range (JsonObject *c) { json_object_set_int_member (level (c, 1), "t", 3); }
static void edit_no_levels (JsonObject *c) { json_object_remove_member (c, "levels"); }
static void edit_xt_size (JsonObject *c) { json_object_set_int_member (level (c, 0), "xt_size", 17); }
static void edit_scale_pos (JsonObject *c) { json_object_set_int_member (level (c, 0), "scale_pos", 17); }
static void edit_dec_vocab (JsonObject *c) { json_object_set_int_member (level (c, 0), "dec_num_tokens", 9); }
static void edit_seq_len (JsonObject *c) { json_object_set_int_member (level (c, 0), "dec_max_seq_len", 15); }

static JsonArray *
betas (JsonObject *c)
{
  return json_object_get_array_member (json_object_get_object_member (c, "schedule"), "betas");
}

static void edit_beta_zero (JsonObject *c) { json_array_remove_element (betas (c), 0); json_array_add_double_element (betas (c), 0.5); }
static void edit_beta_big (JsonObject *c) { json_array_remove_element (betas (c), 2); json_array_add_double_element (betas (c), 1.5); }
static void edit_beta_count (JsonObject *c) { json_array_add_double_element (betas (c), 0.5); }

static JsonObject *
vqgan (JsonObject *c)
{
  return json_object_get_object_member (c, "vqgan");
}

static void edit_remap_duplicate (JsonObject *c)
{
  JsonArray *remap = json_object_get_array_member (vqgan (c), "remap");
  json_array_remove_element (remap, 1);
  json_array_add_int_element (remap, 15);
}
static void edit_remap_range (JsonObject *c) { json_array_add_int_element (json_object_get_array_member (vqgan (c), "remap"), 16); }
static void edit_ch (JsonObject *c) { json_object_set_int_member (vqgan (c), "ch", 48); }
static void edit_resolution (JsonObject *c) { json_object_set_int_member (vqgan (c), "resolution", 32); }
static void edit_ch_mult_empty (JsonObject *c) { json_object_set_array_member (vqgan (c), "ch_mult", json_array_new ()); }
static void edit_tokens (JsonObject *c) { json_object_set_int_member (json_object_get_object_member (c, "tokens"), "height", 5); }
static void edit_version (JsonObject *c) { json_object_set_int_member (c, "format_version", 2); }
static void edit_conditioning (JsonObject *c)
{
  JsonObject *cond = json_object_get_object_member (c, "conditioning");
  JsonArray *labels = json_array_new ();
  for (int i = 0; i < 20; i++)
    json_array_add_string_element (labels, "label");
  json_object_set_string_member (cond, "kind", "class");
  json_object_set_array_member (cond, "labels", labels);
}
static void edit_gpt_heads (JsonObject *c)
{
  json_object_set_int_member (level (c, 1), "n_head", 3);
}
static void edit_gpt_block (JsonObject *c)
{
  json_object_set_int_member (level (c, 1), "block_size", 14);
}
static void edit_conditioning_kind (JsonObject *c)
{
  json_object_set_string_member (json_object_get_object_member (c, "conditioning"), "kind", "smell");
}

static void
test_config_table (void)
{
  static const struct { ConfigEdit edit; int code; const char *fragment; } cases[] = {
    { edit_dim_zero, IB_ERROR_INVALID, "dim is 0" },
    { edit_dim_huge, IB_ERROR_INVALID, "dim is" },
    { edit_dim_fraction, IB_ERROR_INVALID, "dim must be an integer" },
    { edit_dim_string, IB_ERROR_INVALID, "dim must be an integer" },
    { edit_heads_mismatch, IB_ERROR_INVALID, "shape" },
    { edit_variant, IB_ERROR_INVALID, "funky" },
    { edit_top_k, IB_ERROR_INVALID, "top_k" },
    { edit_temperature, IB_ERROR_INVALID, "temperature" },
    { edit_level_twice, IB_ERROR_INVALID, "twice" },
    { edit_level_range, IB_ERROR_INVALID, "t is 3" },
    { edit_no_levels, IB_ERROR_INVALID, "levels" },
    { edit_xt_size, IB_ERROR_INVALID, "xt_size" },
    { edit_scale_pos, IB_ERROR_INVALID, "scale_pos" },
    { edit_dec_vocab, IB_ERROR_INVALID, "dec_num_tokens" },
    { edit_seq_len, IB_ERROR_INVALID, "dec_max_seq_len" },
    { edit_beta_zero, IB_ERROR_INVALID, "betas[0]" },
    { edit_beta_big, IB_ERROR_INVALID, "outside (0, 1]" },
    { edit_beta_count, IB_ERROR_INVALID, "levels" },
    { edit_remap_duplicate, IB_ERROR_INVALID, "twice" },
    { edit_remap_range, IB_ERROR_INVALID, "remap" },
    { edit_ch, IB_ERROR_INVALID, "multiple of 32" },
    { edit_resolution, IB_ERROR_INVALID, "resolution" },
    { edit_ch_mult_empty, IB_ERROR_INVALID, "ch_mult" },
    { edit_tokens, IB_ERROR_INVALID, "token grid" },
    { edit_version, IB_ERROR_UNSUPPORTED, "version" },
    { edit_conditioning, IB_ERROR_INVALID, "conditioning tokens" },
    { edit_conditioning_kind, IB_ERROR_INVALID, "smell" },
  };
  g_autoptr (GBytes) valid = valid_model ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bytes = edit_config (valid, cases[i].edit);
      assert_refused (bytes, cases[i].code, cases[i].fragment);
    }

  IbTestModelSpec spec;
  ib_test_model_spec_init (&spec);
  spec.gpt_top = TRUE;
  g_autoptr (GBytes) with_gpt = ib_test_model_build (&spec);
  g_autoptr (GBytes) heads = edit_config (with_gpt, edit_gpt_heads);
  assert_refused (heads, IB_ERROR_INVALID, "not a multiple of n_head");
  g_autoptr (GBytes) block = edit_config (with_gpt, edit_gpt_block);
  assert_refused (block, IB_ERROR_INVALID, "takes at most 14");
}

/* Random byte flips anywhere in the header: each variant loads or fails with an error, nothing else. */
static void
test_header_flips (void)
{
  g_autoptr (GBytes) valid = valid_model ();
  gsize size;
  const guint8 *data = g_bytes_get_data (valid, &size);
  guint64 length = header_length (valid);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);

  for (int round = 0; round < 300; round++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, size);
      int flips = g_rand_int_range (rand, 1, 4);
      for (int f = 0; f < flips; f++)
        copy[g_rand_int_range (rand, 0, (gint32) (8 + length))] ^= (guint8) g_rand_int_range (rand, 1, 256);
      g_autoptr (GBytes) bytes = g_bytes_new (copy, size);
      g_autoptr (GError) error = NULL;
      g_autoptr (IbModelFile) file = ib_model_file_new_from_bytes (bytes, "flipped", &error);
      g_assert_true ((file == NULL) == (error != NULL));
    }
}

static void
test_open_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (IbModelFile) file = ib_model_file_open ("/nonexistent/model.safetensors", &error);
  g_assert_null (file);
  g_assert_error (error, IB_ERROR, IB_ERROR_IO);
  g_clear_error (&error);
  file = ib_model_file_open ("/", &error);
  g_assert_error (error, IB_ERROR, IB_ERROR_IO);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/file/valid", test_valid);
  g_test_add_func ("/model/file/joint-and-half-precision", test_joint_and_half_precision);
  g_test_add_func ("/model/file/gpt-level", test_gpt_level);
  g_test_add_func ("/model/file/misaligned-data", test_misaligned_data);
  g_test_add_func ("/model/file/container-sizes", test_container_sizes);
  g_test_add_func ("/model/file/header-text", test_header_text);
  g_test_add_func ("/model/file/tensor-table", test_tensor_table);
  g_test_add_func ("/model/file/config-table", test_config_table);
  g_test_add_func ("/model/file/header-flips", test_header_flips);
  g_test_add_func ("/model/file/open-errors", test_open_errors);
  return g_test_run ();
}
