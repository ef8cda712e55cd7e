#include "argument-json.hh"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace nfm {

using namespace nix;

namespace {

class JsonWriter
{
    EvalState & state;
    compat::PrimOpPos pos;

public:
    std::string out;

    JsonWriter(EvalState & state, compat::PrimOpPos pos) : state(state), pos(pos) {}

    void value(Value & v)
    {
        state.forceValue(v, pos);
        switch (v.type()) {
        case nNull: out += "null"; break;
        case nBool: out += compat::boolOf(v) ? "true" : "false"; break;
        case nInt: out += std::to_string(compat::intOf(v)); break;
        case nFloat: number(compat::floatOf(v)); break;
        case nString: string(compat::stringOf(v)); break;
        case nAttrs: attrs(v); break;
        case nList: list(v); break;
        case nPath: unwritable("path"); break;
        default: unwritable("function"); break;
        }
    }

private:
    void attrs(Value & v)
    {
        out += '{';
        bool first = true;
        for (auto & attr : *compat::bindingsOf(v)) {
            if (!first)
                out += ',';
            first = false;
            string(compat::attrName(state, attr));
            out += ':';
            value(*attr.value);
        }
        out += '}';
    }

    void list(Value & v)
    {
        out += '[';
        bool first = true;
        compat::forEachElem(v, [&](Value & elem) {
            if (!first)
                out += ',';
            first = false;
            value(elem);
        });
        out += ']';
    }

    // A float stays a float in JSON (1.0, not 1), so the check tells it from an int as Nix does;
    // one JSON cannot write (infinite, not a number) goes as a value of its type.
    void number(double x)
    {
        if (!std::isfinite(x))
            return unwritable("float");
        char buffer[32];
        auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, x);
        std::string_view text(buffer, error == std::errc() ? end - buffer : 0);
        out += text;
        if (text.find_first_of(".en") == std::string_view::npos)
            out += ".0";
    }

    // Runs of characters that need no escape are copied whole: this runs on every cache hit.
    void string(std::string_view s)
    {
        out += '"';
        size_t run = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            auto c = static_cast<unsigned char>(s[i]);
            if (c != '"' && c != '\\' && c >= 0x20)
                continue;
            out.append(s.data() + run, i - run);
            run = i + 1;
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                out += escaped;
            }
        }
        out.append(s.data() + run, s.size() - run);
        out += '"';
    }

    void unwritable(const char * type)
    {
        out += "{\"\\u0000type\":\"";
        out += type;
        out += "\"}";
    }
};

} // namespace

std::string argumentAsJson(EvalState & state, compat::PrimOpPos pos, Value & arg)
{
    JsonWriter writer(state, pos);
    writer.out.reserve(512);
    writer.value(arg);
    return std::move(writer.out);
}

} // namespace nfm
