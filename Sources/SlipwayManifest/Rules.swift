public import Foundation

/// Character rules for values that end up in file names, commit messages or HAProxy's config.
public enum Rules {
    static func isName(_ text: String) -> Bool {
        (1...63).contains(text.utf8.count) && text.utf8.allSatisfy { isAlphanumeric($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    static func isVersion(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count) && text.utf8.allSatisfy { isAlphanumeric($0) || [45, 95, 46, 43, 126].contains($0) }
    }

    static func isVariable(_ text: String) -> Bool {
        guard let first = text.utf8.first, !(48...57).contains(first) else { return false }
        return text.utf8.count <= 128 && text.utf8.allSatisfy { isAlphanumeric($0) || $0 == 95 }
    }

    static func isHTTPPath(_ text: String) -> Bool {
        text.hasPrefix("/") && text.utf8.count <= 512
            && text.utf8.allSatisfy { isAlphanumeric($0) || Array("/._~%?&=-".utf8).contains($0) }
    }

    /// `http://` or `https://`, a host name or IPv4 address, an optional port, an optional
    /// path: no user or password (a URL is printed in records and errors; a secret has no place in it).
    public static func isHTTPURL(_ text: String) -> Bool {
        guard text.utf8.count <= 2048, let scheme = ["http://", "https://"].first(where: { text.hasPrefix($0) }) else { return false }
        let rest = text.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        let port = parts.count == 2 ? Int(parts[1]) : 1
        guard let host = parts.first, !host.isEmpty, parts.count <= 2, let port, (1...65535).contains(port),
              host.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else { return false }
        return path.isEmpty || isHTTPPath(String(path))
    }

    /// A host name or IPv4 literal that no program reads as an option: letters, digits, `.`
    /// and `-`, not starting with `-`, at most 253 bytes.
    static func isHost(_ text: String) -> Bool {
        guard let first = text.utf8.first, first != 45, first != 46, text.utf8.count <= 253 else { return false }
        return text.utf8.allSatisfy { isAlphanumeric($0) || $0 == 45 || $0 == 46 }
    }

    /// A login name: letters, digits, `_`, `-` and `.`, not starting with `-`, at most 32 bytes.
    static func isLogin(_ text: String) -> Bool {
        guard let first = text.utf8.first, first != 45, text.utf8.count <= 32 else { return false }
        return text.utf8.allSatisfy { isAlphanumeric($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    static func isRef(_ text: String) -> Bool {
        text.utf8.count <= 200 && !text.contains("..") && text.utf8.allSatisfy { isAlphanumeric($0) || Array("/._-".utf8).contains($0) }
    }

    static func isSafeDirectory(_ text: String) -> Bool {
        !text.isEmpty && !text.utf8.contains(0) && !text.split(separator: "/").contains("..")
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }
}
