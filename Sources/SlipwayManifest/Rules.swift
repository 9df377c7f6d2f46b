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

    /// `http://host:port/path` → its parts; nil for anything else (no https, no user info).
    public static func httpURL(_ text: String) -> (host: String, port: Int, path: String)? {
        guard text.hasPrefix("http://") else { return nil }
        let rest = text.dropFirst("http://".count)
        let hostPort = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(hostPort.count)
        guard let address = ListenAddress(text: String(hostPort)), path.isEmpty || isHTTPPath(String(path)) else { return nil }
        return (address.host, address.port, path.isEmpty ? "/" : String(path))
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
