// systemd notification (systemd_notify.h): sd_notify calls, or no-ops without
// libsystemd.
#include "server/systemd_notify.h"

#ifdef DKD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace dkd::server {

#ifdef DKD_HAVE_SYSTEMD
void NotifyReady(const std::string& status) { sd_notify(0, ("READY=1\nSTATUS=" + status).c_str()); }
void NotifyReloading() { sd_notify(0, "RELOADING=1"); }
void NotifyStopping() { sd_notify(0, "STOPPING=1"); }
#else
void NotifyReady(const std::string&) {}
void NotifyReloading() {}
void NotifyStopping() {}
#endif

}  // namespace dkd::server
