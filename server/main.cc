// dkd: flags, logging and signals. Start-up, reload and shutdown are the
// Daemon's (daemon.h).
#include <signal.h>

#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "server/config.h"
#include "server/daemon.h"
#include "server/daemon_options.h"
#include "server/logging.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace dkd;
  // Signals are taken by a dedicated thread via sigwait; block them
  // everywhere (threads started later inherit the mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto options = server::ParseDaemonOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.ok()) {
    std::cerr << "dkd: " << options.status().message() << "\n";
    return 2;
  }
  if (options->show_help) {
    std::cout << server::DaemonUsage();
    return 0;
  }
  if (options->show_version) {
    std::cout << "dkd " << server::kDaemonVersion << "\n";
    return 0;
  }
  auto config = server::LoadConfig(options->config_path, options->overrides);
  if (!config.ok()) {
    std::cerr << "dkd: " << config.status().message() << "\n";
    return 2;
  }
  if (options->check_config) {
    std::cout << "dkd: configuration is valid\n";
    return 0;
  }
  server::ConfigureLogging(config->log_level, config->log_format);

  auto daemon = server::Daemon::Start(*std::move(options), *std::move(config));
  if (!daemon.ok()) {
    spdlog::critical("{}", std::string(daemon.status().message()));
    return 1;
  }
  std::thread signal_thread([&signals, d = daemon->get()] {
    while (true) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        d->Reload().IgnoreError();  // A refused reload is logged and changes nothing.
        continue;
      }
      spdlog::info("received {}, shutting down (grace {}s)", strsignal(sig),
                   absl::ToDoubleSeconds(d->shutdown_grace()));
      d->Shutdown(d->shutdown_grace());
      return;
    }
  });
  const int code = (*daemon)->Wait();
  signal_thread.join();
  return code;
}
