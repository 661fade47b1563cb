// systemd readiness notification (Type=notify), through libsystemd's
// sd_notify when dkd is built with it; no-ops otherwise or when not started
// by systemd ($NOTIFY_SOCKET unset).
#pragma once

#include <string>

namespace dkd::server {

void NotifyReady(const std::string& status);
void NotifyReloading();
void NotifyStopping();

}  // namespace dkd::server
