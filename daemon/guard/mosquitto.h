/* Not the real header: daemon/guard is first on the include path of the
 * pure core (Makefile.am, daemon_libcore_a_CPPFLAGS), so that the core can
 * never include an adapter's library. Move the code that needs it into an
 * adapter. */
#error "the pure core (daemon/libcore.a) must not include <mosquitto.h>"
