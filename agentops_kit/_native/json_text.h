/* JSON text as orjson writes it (escapes, the shortest float that reads back, integers). */
#ifndef AGENTOPS_JSON_TEXT_H
#define AGENTOPS_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "columns.h"

int put_escaped(Buf *b, const char *s, size_t n); /* a JSON string, quotes included */
int put_double(Buf *b, double d);                  /* a finite double */
int put_int(Buf *b, int64_t v);

#endif
