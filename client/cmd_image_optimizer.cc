#include <iostream>

#include "client/dkctl_commands.h"

namespace dkd::client {

int CmdAnalyze(CliContext& ctx, const std::vector<std::string>& args) {
  std::cerr << "dkctl analyze: not implemented yet\n";
  return 1;
}

int CmdCompare(CliContext& ctx, const std::vector<std::string>& args) {
  std::cerr << "dkctl compare: not implemented yet\n";
  return 1;
}

int CmdReport(CliContext& ctx, const std::vector<std::string>& args) {
  std::cerr << "dkctl report: not implemented yet\n";
  return 1;
}

}  // namespace dkd::client
