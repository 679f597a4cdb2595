// harness_main.h: the program around a compiled EA, in place of the terminal's event loop.
//   ./ea <sandbox_dir> <config>
// <config>: one `Input=Value` per line (the EA's inputs; unknown names are an error).
// <sandbox_dir>/terminal.tsv: the simulated account (see terminal.h); MQL5/Files and
// Common/Files: the EA's file sandbox; control/: test commands applied each loop;
// STOP: when it appears, OnDeinit runs and the process exits 0. ea.ready is written
// after OnInit succeeded. OnInit failing exits 3.
#pragma once
#include "terminal.h"

inline void harness_apply_controls(const std::string &dir) {
  DIR *d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (struct dirent *e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.substr(n.size() - 4) == ".ctl") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (auto &n : names) {
    std::ifstream f(dir + "/" + n);
    std::string line;
    while (std::getline(f, line)) if (!line.empty()) sim_control(sim_split(line));
    ::unlink((dir + "/" + n).c_str());
  }
}

inline void harness_on_move(const std::string &src, const std::string &dst) {
  if (dst.find("/outbox/") != std::string::npos) {
    // `fault skew_outbox_move:<ms> 1`: the clock jumps by <ms> while the result is written
    for (auto &f : T().faults)
      if (f.first.rfind("skew_outbox_move:", 0) == 0 && f.second > 0) {
        f.second--;
        mql5_clk().gmt_skew_ms += sim_l(f.first.substr(17));
        sim_save();
      }
    sim_crashpoint("crash_outbox_move");
  }
  if (src.find("/inbox/") != std::string::npos) sim_crashpoint("crash_archive_move");
}

// `fault fail_open:<part of a path> N`: the next N FileOpen of such a path fail
inline bool harness_fail_open(const std::string &path) {
  for (auto &f : T().faults)
    if (f.first.rfind("fail_open:", 0) == 0 && f.second > 0 && path.find(f.first.substr(10)) != std::string::npos) {
      f.second--;
      sim_save();
      return true;
    }
  return false;
}

// `fault fail_move:<part of a path> N`: the next N FileMove onto such a path fail (the
// destination held open by another process)
inline bool harness_fail_move(const std::string &dst) {
  for (auto &f : T().faults)
    if (f.first.rfind("fail_move:", 0) == 0 && f.second > 0 && dst.find(f.first.substr(10)) != std::string::npos) {
      f.second--;
      sim_save();
      return true;
    }
  return false;
}

// `fault lose_answer:<part of a URL> N`: the next N WebRequests to such a URL reach the
// server, which handles them, but their answers are lost (a timeout, 5202)
inline bool harness_lose_answer(const std::string &url) {
  for (auto &f : T().faults)
    if (f.first.rfind("lose_answer:", 0) == 0 && f.second > 0 && url.find(f.first.substr(12)) != std::string::npos) {
      f.second--;
      sim_save();
      return true;
    }
  return false;
}

int main(int argc, char **argv) {
  mql5_prog().on_move = harness_on_move;
  mql5_prog().lose_answer = harness_lose_answer;
  mql5_prog().fail_open = harness_fail_open;
  mql5_prog().fail_move = harness_fail_move;
  if (const char *p = std::getenv("MTPONTE_EA_CRASH_P")) {  // the crash drill: die at random crash points
    sim_crash_p() = std::atof(p);
    std::srand((unsigned)(getpid() ^ mql5_wall_ms()));
  }
  if (argc < 3) { std::fprintf(stderr, "usage: %s <sandbox_dir> <config>\n", argv[0]); return 2; }
  std::string sandbox = argv[1];
  mql5_prog().sandbox = sandbox;
  mql5_mkdirs(sandbox + "/MQL5/Files");
  mql5_mkdirs(sandbox + "/Common/Files");
  mql5_mkdirs(sandbox + "/control");
  {
    std::ifstream cfg(argv[2]);
    std::string line;
    while (std::getline(cfg, line)) {
      if (line.empty() || line[0] == '#') continue;
      size_t eq = line.find('=');
      std::string k = line.substr(0, eq), v = eq == std::string::npos ? "" : line.substr(eq + 1);
      auto it = mql5_inputs().find(k);
      if (it == mql5_inputs().end() || !it->second(v)) { std::fprintf(stderr, "bad input %s\n", line.c_str()); return 2; }
    }
  }
  sim_load(sandbox + "/terminal.tsv");
  sim_save();  // normalised: every record present from the start
  harness_apply_controls(sandbox + "/control");
  int rc = OnInit();
  if (rc != INIT_SUCCEEDED) { std::fprintf(stderr, "OnInit failed (%d)\n", rc); OnDeinit(8); sim_save(); return 3; }
  { std::ofstream r(sandbox + "/ea.ready"); r << getpid() << "\n"; }
  ulong last = GetTickCount64();
  std::string stop = sandbox + "/STOP";
  struct stat st;
  while (!mql5_prog().stop && ::stat(stop.c_str(), &st) != 0) {
    harness_apply_controls(sandbox + "/control");
    sim_tick();
    ulong now = GetTickCount64();
    if (mql5_prog().timer_ms > 0 && now - last >= (ulong)mql5_prog().timer_ms) { last = now; OnTimer(); }
    Sleep(1);
  }
  OnDeinit(REASON_REMOVE);
  sim_save();
  ::unlink((sandbox + "/ea.ready").c_str());
  return 0;
}
