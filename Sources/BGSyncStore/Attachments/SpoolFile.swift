import Foundation

/// Attachment data too big to hold in memory, kept in a temporary file on its way between a
/// server and a store. The file is removed when the last reference to it goes.
package final class SpoolFile: Sendable, Equatable {
    /// The file's path.
    package let path: String
    /// Its length in bytes.
    package let length: Int

    private init(path: String, length: Int) {
        self.path = path
        self.length = length
    }

    deinit {
        unlink(path)
    }

    package static func == (lhs: SpoolFile, rhs: SpoolFile) -> Bool { lhs === rhs }

    /// The file name prefix of spool files.
    static let namePrefix = ".bgsync-spool-"

    /// How old a spool file must be before ``removeAbandoned(in:)`` takes it for one a killed
    /// run left behind: a live run finishes with each file in minutes.
    package static let abandonedAfter: TimeInterval = 24 * 3600

    /// Removes the spool files in `directory` last written more than ``abandonedAfter`` ago
    /// (a run killed before it could remove them); errors are ignored.
    package static func removeAbandoned(in directory: String, now: Date = Date()) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(namePrefix) {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  now.timeIntervalSince(modified) > abandonedAfter else { continue }
            unlink(path)
        }
    }

    /// Writes a new spool file: ``append(_:)`` the data, then ``finish()``. A writer dropped
    /// before it finished removes its file.
    package final class Writer {
        private let path: String
        private var descriptor: Int32
        private var length = 0

        /// Creates an empty file in `directory`.
        /// - Throws: ``StoreError`` `io` when it cannot.
        package init(in directory: String) throws {
            path = (directory as NSString).appendingPathComponent(SpoolFile.namePrefix + UUID().uuidString)
            descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw Self.failure("cannot create a file for attachment data in \(directory)", directory) }
        }

        deinit {
            if descriptor >= 0 {
                close(descriptor)
                unlink(path)
            }
        }

        /// Appends `bytes`.
        package func append(_ bytes: UnsafeRawBufferPointer) throws {
            guard let base = bytes.baseAddress, descriptor >= 0 else { return }
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, base + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw Self.failure("cannot write attachment data", path)
                }
                offset += written
            }
            length += bytes.count
        }

        /// Closes the file and hands it over.
        package func finish() throws -> SpoolFile {
            let closed = close(descriptor)
            descriptor = -1
            guard closed == 0 else {
                unlink(path)
                throw Self.failure("cannot write attachment data", path)
            }
            return SpoolFile(path: path, length: length)
        }

        private static func failure(_ what: String, _ path: String) -> StoreError {
            StoreError(.io, "\(path): \(what) (\(String(cString: strerror(errno))))")
        }
    }

    /// Reads the file piece by piece and, at its end, checks that it still holds ``length``
    /// bytes: the one way spooled data is read back.
    package struct Reader {
        private let file: SpoolFile
        private var handle: FileHandle?
        private var read = 0

        /// Opens `file`.
        /// - Throws: ``StoreError`` `io` when it cannot be read.
        package init(_ file: SpoolFile) throws {
            guard let handle = FileHandle(forReadingAtPath: file.path) else {
                throw StoreError(.io, "\(file.path): cannot read attachment data")
            }
            self.file = file
            self.handle = handle
        }

        /// The next piece of at most `size` bytes; nil at the end.
        /// - Throws: ``StoreError`` `io` when reading fails or the file's length changed.
        package mutating func next(upTo size: Int) throws -> Data? {
            guard let handle else { return nil }
            let piece: Data
            do {
                piece = try handle.read(upToCount: size) ?? Data()
            } catch {
                throw StoreError(.io, "\(file.path): cannot read attachment data (\(error.localizedDescription))")
            }
            if !piece.isEmpty {
                read += piece.count
                return piece
            }
            try? handle.close()
            self.handle = nil
            guard read == file.length else {
                throw StoreError(.io, "\(file.path): attachment data changed on disk (\(read) bytes, expected \(file.length))")
            }
            return nil
        }
    }

    /// Calls `body` with the file's contents in pieces of at most `size` bytes, in order (once
    /// with an empty piece for an empty file).
    package func forEachChunk(of size: Int, _ body: (Data) throws -> Void) throws {
        var reader = try Reader(self)
        var any = false
        while let piece = try reader.next(upTo: size) {
            any = true
            try body(piece)
        }
        if !any { try body(Data()) }
    }
}
