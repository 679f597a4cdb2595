// Reads one JSON text per line (UTF-8, ASCII in the fixtures), parses it with the EA's
// JsonParseFlat, prints the outcome as one line: "ok\t<key>\t<type>\t<value>..." or
// "error\t<message>" (keys and values written with the EA's own JsonEscape). With "escape" as argv[1], prints JsonEscape of each line instead.
#include "mql5shim.h"
#include "Json.mqh"
#include <iostream>

static string widen(const std::string &s) { string out; for (unsigned char c : s) out.push_back(c); return out; }

int main(int argc, char **argv) {
  bool escape = argc > 1 && std::string(argv[1]) == "escape";
  std::string line;
  while (std::getline(std::cin, line)) {
    string s = widen(line);
    if (escape) { std::cout << narrow(JsonEscape(s)) << "\n"; continue; }
    CJsonObject obj;
    string error;
    if (!JsonParseFlat(s, obj, error)) { std::cout << "error\t" << narrow(error) << "\n"; continue; }
    std::cout << "ok";
    for (int k = 0; k < ArraySize(obj.keys); k++)
      std::cout << "\t" << narrow(JsonEscape(obj.keys[k])) << "\t" << obj.types[k] << "\t"
                << narrow(JsonEscape(obj.values[k]));
    std::cout << "\n";
  }
}
