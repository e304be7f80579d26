/// Minimal JSON string escaping, for writers that build JSON text by hand.
///
/// This is exactly the escaping used by ``JSONValue/serialized``: `"` and `\` are
/// backslash-escaped, `\b \f \n \r \t` use their short forms, every other control
/// character below U+0020 becomes `\u00XX` (lowercase hex), and everything else —
/// including `/`, U+007F and all non-ASCII characters — is written as literal UTF-8.
package enum JSONString {
    /// Appends `s` as a quoted, escaped JSON string literal to `out`.
    package static func append(_ s: String, to out: inout String) {
        if !needsEscaping(s) {
            out.append("\"")
            out.append(s)
            out.append("\"")
            return
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(s.utf8.count + 16)
        append(s, to: &buffer)
        out.append(String(decoding: buffer, as: UTF8.self))
    }

    /// Appends `s` as a quoted, escaped JSON string literal, in UTF-8, to `out`.
    package static func append(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        appendContents(s, to: &out)
        out.append(0x22)
    }

    /// Returns `s` as a quoted, escaped JSON string literal, e.g. `"a\"b"` for `a"b`.
    package static func quoted(_ s: String) -> String {
        var out = ""
        append(s, to: &out)
        return out
    }

    /// Appends the escaped contents of `s` (without the surrounding quotes) to `out`.
    static func appendContents(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendContents($0, to: &out) }
    }

    /// Appends the escaped form of the UTF-8 bytes `p` (without quotes) to `out`.
    static func appendContents(_ p: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var runStart = 0
        var i = 0
        let count = p.count
        while i < count {
            let c = p[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C {
                i += 1
                continue
            }
            if runStart < i {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<i]))
            }
            out.append(0x5C)  // backslash
            switch c {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigit(c >> 4))
                out.append(hexDigit(c & 0x0F))
            }
            i += 1
            runStart = i
        }
        if runStart < count {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<count]))
        }
    }

    /// Whether `s` contains any byte that must be escaped inside a JSON string.
    static func needsEscaping(_ s: String) -> Bool {
        s.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10
    }
}
