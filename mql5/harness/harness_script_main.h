// harness_script_main.h: the program around a compiled MQL5 script.
//   ./script <sandbox_dir> <config>   (inputs as for harness_main.h)
// Loads <sandbox_dir>/terminal.tsv, runs OnStart() once, saves the terminal, exits 0.
#pragma once
#include "terminal.h"

int main(int argc, char **argv) {
  if (argc < 3) { std::fprintf(stderr, "usage: %s <sandbox_dir> <config>\n", argv[0]); return 2; }
  std::string sandbox = argv[1];
  mql5_prog().sandbox = sandbox;
  mql5_mkdirs(sandbox + "/MQL5/Files");
  mql5_mkdirs(sandbox + "/Common/Files");
  std::ifstream cfg(argv[2]);
  std::string line;
  while (std::getline(cfg, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    std::string k = line.substr(0, eq), v = eq == std::string::npos ? "" : line.substr(eq + 1);
    auto it = mql5_inputs().find(k);
    if (it == mql5_inputs().end() || !it->second(v)) { std::fprintf(stderr, "bad input %s\n", line.c_str()); return 2; }
  }
  sim_load(sandbox + "/terminal.tsv");
  OnStart();
  sim_save();
  return 0;
}
