#include "check_main.h"
static Suite *s(void){Suite *s=suite_create("config");return s;}
CHECK_MAIN(s)
