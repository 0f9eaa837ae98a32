#include <libwebsockets.h>

/// LWS_PRE is a macro Swift cannot import; expose it as a constant.
static const int kv_lws_pre = LWS_PRE;
