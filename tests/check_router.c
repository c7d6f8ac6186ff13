#include "check_main.h"
static Suite *s(void){Suite *s=suite_create("router");return s;}
CHECK_MAIN(s)
