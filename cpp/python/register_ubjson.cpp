// UBJSON (https://ubjson.org) decoding: XGBoost serialises its models to it (save_raw("ubj")).
// Objects become dicts, strings str, arrays lists, except strongly typed numeric arrays
// ("[$<type>#<count>", which XGBoost writes for every per-node array): those become NumPy arrays
// in native byte order. Decoding a 300-tree model takes about a millisecond here, against tens
// for json.loads of the same model as JSON text.
#include <cstring>
#include <string>

#include "bindings.hpp"

namespace xplain_py {

namespace {

constexpr int kMaxDepth = 512;  // deeper nesting is refused rather than exhausting the C stack

class UbjsonDecoder {
 public:
  UbjsonDecoder(const uint8_t* data, size_t size) : p_(data), begin_(data), end_(data + size) {}

  py::object document() {
    py::object value = next_value(0);
    if (p_ != end_) fail(std::to_string(end_ - p_) + " bytes left after the value");
    return value;
  }

 private:
  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;

  [[noreturn]] void fail(const std::string& what) const {
    throw py::value_error("UBJSON: " + what + " (at offset " + std::to_string(p_ - begin_) + ")");
  }
  void need(size_t n) const {
    if (static_cast<size_t>(end_ - p_) < n) fail("the data ends early");
  }
  uint8_t byte() {
    need(1);
    return *p_++;
  }
  uint8_t peek() const {
    need(1);
    return *p_;
  }
  /// A big-endian number of `bytes` bytes.
  uint64_t big_endian(int bytes) {
    need(static_cast<size_t>(bytes));
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p_[i];
    p_ += bytes;
    return v;
  }
  static int width(uint8_t marker) {
    switch (marker) {
      case 'i': case 'U': return 1;
      case 'I': return 2;
      case 'l': case 'd': return 4;
      case 'L': case 'D': return 8;
      default: return 0;
    }
  }
  /// An integer after its marker, or 0 with ok = false for a marker that is not an integer.
  int64_t integer(uint8_t marker, bool& ok) {
    ok = true;
    switch (marker) {
      case 'i': return static_cast<int8_t>(big_endian(1));
      case 'U': return static_cast<uint8_t>(big_endian(1));
      case 'I': return static_cast<int16_t>(big_endian(2));
      case 'l': return static_cast<int32_t>(big_endian(4));
      case 'L': return static_cast<int64_t>(big_endian(8));
      default: ok = false; return 0;
    }
  }
  size_t length() {
    bool ok;
    const int64_t n = integer(byte(), ok);
    if (!ok) fail("a length must be an integer");
    if (n < 0) fail("negative length " + std::to_string(n));
    return static_cast<size_t>(n);
  }
  py::str string() {
    const size_t n = length();
    need(n);
    PyObject* s = PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(p_), static_cast<Py_ssize_t>(n), "strict");
    if (!s) {
      PyErr_Clear();
      fail("a string is not valid UTF-8");
    }
    p_ += n;
    return py::reinterpret_steal<py::str>(s);
  }
  py::object next_value(int depth) {
    uint8_t marker = byte();
    while (marker == 'N') marker = byte();  // no-op
    return value(marker, depth);
  }
  py::object value(uint8_t marker, int depth) {
    bool is_int;
    const int64_t i = integer(marker, is_int);
    if (is_int) return py::int_(i);
    switch (marker) {
      case 'd': {
        const uint32_t bits = static_cast<uint32_t>(big_endian(4));
        float v;
        std::memcpy(&v, &bits, sizeof v);
        return py::float_(v);
      }
      case 'D': {
        const uint64_t bits = big_endian(8);
        double v;
        std::memcpy(&v, &bits, sizeof v);
        return py::float_(v);
      }
      case 'S': return string();
      case 'C': return py::str(std::string(1, static_cast<char>(byte())));
      case 'H': {  // a number as decimal text
        py::str text = string();
        const bool integral = std::string(text).find_first_of(".eE") == std::string::npos;
        return py::module_::import("builtins").attr(integral ? "int" : "float")(text);
      }
      case 'T': return py::bool_(true);
      case 'F': return py::bool_(false);
      case 'Z': return py::none();
      case '[': return array(depth + 1);
      case '{': return object(depth + 1);
      default: --p_; fail(std::string("unknown marker '") + static_cast<char>(marker) + "'");
    }
  }
  /// Whether the container of unknown length ends here (with `close`, after any no-ops).
  bool closes(uint8_t close) {
    while (peek() == 'N') ++p_;
    if (peek() != close) return false;
    ++p_;
    return true;
  }
  /// The optional "$type" and "#count" after '[' or '{'; count < 0: none given.
  void header(uint8_t& type, int64_t& count) {
    type = 0;
    count = -1;
    if (peek() == '$') {
      ++p_;
      type = byte();
      if (peek() != '#') fail("a typed container needs a count");
    }
    if (peek() == '#') {
      ++p_;
      count = static_cast<int64_t>(length());
    }
  }
  py::object array(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    uint8_t type;
    int64_t count;
    header(type, count);
    if (count >= 0 && width(type) > 0) return numeric_array(type, static_cast<size_t>(count));
    py::list items;
    if (count < 0) {
      while (!closes(']')) items.append(next_value(depth));
      return std::move(items);
    }
    for (int64_t k = 0; k < count; ++k) items.append(type ? value(type, depth) : next_value(depth));
    return std::move(items);
  }
  py::object object(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    uint8_t type;
    int64_t count;
    header(type, count);
    py::dict result;
    if (count < 0) {
      while (!closes('}')) {
        py::str key = string();  // keys carry no 'S' marker
        result[key] = next_value(depth);
      }
      return std::move(result);
    }
    for (int64_t k = 0; k < count; ++k) {
      py::str key = string();
      result[key] = type ? value(type, depth) : next_value(depth);
    }
    return std::move(result);
  }
  /// count big-endian values of T, read through the unsigned integer of T's width (so that the
  /// bit pattern, not the byte order, is copied: right on any host).
  template <typename T, typename Bits>
  py::array typed(size_t count) {
    static_assert(sizeof(T) == sizeof(Bits), "same width");
    py::array_t<T> out(static_cast<py::ssize_t>(count));
    T* o = out.mutable_data();
    for (size_t k = 0; k < count; ++k) {
      Bits bits = 0;
      for (size_t b = 0; b < sizeof(T); ++b) bits = static_cast<Bits>((bits << 8) | p_[k * sizeof(T) + b]);
      std::memcpy(&o[k], &bits, sizeof(T));
    }
    p_ += count * sizeof(T);
    return std::move(out);
  }
  py::array numeric_array(uint8_t type, size_t count) {
    const size_t w = static_cast<size_t>(width(type));
    if (count > static_cast<size_t>(end_ - p_) / w) fail("a typed array runs past the end");
    switch (type) {
      case 'i': return typed<int8_t, uint8_t>(count);
      case 'U': return typed<uint8_t, uint8_t>(count);
      case 'I': return typed<int16_t, uint16_t>(count);
      case 'l': return typed<int32_t, uint32_t>(count);
      case 'L': return typed<int64_t, uint64_t>(count);
      case 'd': return typed<float, uint32_t>(count);
      default: return typed<double, uint64_t>(count);
    }
  }
};

}  // namespace

void register_ubjson(py::module_& m) {
  m.def(
      "ubjson_loads",
      [](py::buffer data) {
        const py::buffer_info info = data.request();
        if (info.ndim != 1 || info.itemsize != 1 || (info.ndim == 1 && info.strides[0] != 1))
          throw py::type_error("ubjson_loads expects contiguous bytes");
        return UbjsonDecoder(static_cast<const uint8_t*>(info.ptr), static_cast<size_t>(info.size)).document();
      },
      py::arg("data"),
      "Decode one UBJSON value: dicts, lists, str, int, float, bool, None, and NumPy arrays for typed "
      "numeric arrays. ValueError if the bytes are not exactly one valid value.");
}

}  // namespace xplain_py
