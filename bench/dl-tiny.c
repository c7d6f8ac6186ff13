/* dl-tiny: a library with one function and nothing else, which
 * dlclose-bench loads and unloads. */
int dl_tiny(int x);

int dl_tiny(int x)
{
	return x + 1;
}
