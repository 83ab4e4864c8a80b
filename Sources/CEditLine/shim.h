// BSD editline (libedit): readline-compatible line editing and history for the REPL.
#include <stdio.h>
#include <editline/readline.h>
#include <histedit.h>
