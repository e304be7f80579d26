import BGSyncStore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Attachment digests as CouchDB writes them.
///
/// CouchDB stores attachments of compressible types (`text/*`, `application/javascript`,
/// `application/json`, `application/xml`) gzip-compressed at level 8 and digests the
/// compressed bytes: `"hello world"` as `text/plain` is `md5-7mkg+nM0HN26sZkLN8KVSA==`, not the
/// MD5 of the text. Other types are digested as sent. The store computes plain MD5s, so the
/// fixture computes CouchDB's digest itself and hands it to the store with the data.
///
/// zlib is loaded at run time (`libz.so.1` / `libz.dylib`), so the package needs no new
/// dependency; without it, compressible types fall back to the plain MD5.
enum AttachmentDigest {
    static func isCompressible(_ contentType: String) -> Bool {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return type.hasPrefix("text/") || ["application/javascript", "application/json", "application/xml"].contains(type)
    }

    /// `md5-<base64>` of the bytes CouchDB would store for `data`.
    static func couchDB(_ data: [UInt8], contentType: String) -> String {
        let stored = isCompressible(contentType) ? (Zlib.gzip(data, level: 8) ?? data) : data
        return "md5-" + Data(MD5.digest(stored)).base64EncodedString()
    }
}

/// Just enough of zlib, found with `dlopen`, to gzip like Erlang's `zlib` module does.
enum Zlib {
    private typealias Compress2 = @convention(c) (UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt>?, UnsafePointer<UInt8>?, UInt, Int32) -> Int32
    private typealias CompressBound = @convention(c) (UInt) -> UInt

    private struct Functions: @unchecked Sendable {
        var compress2: Compress2
        var compressBound: CompressBound
    }

    private static let functions: Functions? = {
        for name in ["libz.so.1", "libz.so", "libz.1.dylib", "libz.dylib"] {
            guard let handle = dlopen(name, RTLD_NOW) else { continue }
            guard let compress = dlsym(handle, "compress2"), let bound = dlsym(handle, "compressBound") else { continue }
            return Functions(compress2: unsafeBitCast(compress, to: Compress2.self),
                             compressBound: unsafeBitCast(bound, to: CompressBound.self))
        }
        return nil
    }()

    /// A gzip member (no name, mtime 0, OS Unix) holding `data` deflated at `level` with
    /// zlib's defaults (window 15, memLevel 8): byte for byte what
    /// `deflateInit2(level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY)` writes.
    static func gzip(_ data: [UInt8], level: Int32) -> [UInt8]? {
        guard let functions else { return nil }
        var length = functions.compressBound(UInt(data.count))
        var zlibStream = [UInt8](repeating: 0, count: Int(length))
        let status = data.withUnsafeBufferPointer { source in
            zlibStream.withUnsafeMutableBufferPointer { destination in
                functions.compress2(destination.baseAddress, &length, source.baseAddress, UInt(data.count), level)
            }
        }
        guard status == 0, length >= 6 else { return nil }
        // A zlib stream is a 2-byte header, the deflate data, and an Adler-32; gzip wraps the
        // same deflate data in its own header and a CRC-32 + length trailer.
        let extraFlags: UInt8 = level == 9 ? 2 : (level < 2 ? 4 : 0)
        var out: [UInt8] = [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, extraFlags, 3]
        out.append(contentsOf: zlibStream[2..<(Int(length) - 4)])
        let crc = crc32(data)
        let size = UInt32(truncatingIfNeeded: data.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: size >> UInt32(shift))) }
        return out
    }

    private static let crcTable: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 != 0 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
