/* version.h - hotdog's version, exposed to templates as {{version}}. */
#ifndef HOTDOG_VERSION
#define HOTDOG_VERSION "0.1.0"
#endif
