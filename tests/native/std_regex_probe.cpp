// Times std::regex_search as llama.cpp runs it on tensor names (ECMAScript, the default flags).
// stdin: lines "pattern<TAB>name"; stdout per line: microseconds for one search (or -1 if the pattern
// does not compile). Built and run by tests/unit/test_regex_safety.py.
#include <chrono>
#include <iostream>
#include <regex>
#include <string>

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        auto tab = line.find('\t');
        std::string pattern = line.substr(0, tab), name = line.substr(tab + 1);
        try {
            std::regex re(pattern);
            auto start = std::chrono::steady_clock::now();
            bool found = std::regex_search(name, re);
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start).count();
            std::cout << us << ' ' << found << std::endl;
        } catch (const std::regex_error &) {
            std::cout << -1 << " 0" << std::endl;
        }
    }
}
