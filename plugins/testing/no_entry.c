/* A shared object without keelson_plugin_entry. */
int keelson_not_a_plugin(void);
int keelson_not_a_plugin(void)
{
	return 42;
}
