/// A self-signed certificate for `127.0.0.1` (subjectAltName IP:127.0.0.1, valid until 2126)
/// and its private key, for a fixture server started with
/// ``FixtureServer/Configuration/tls`` = true.
///
/// Generated once with `openssl req -x509 -newkey rsa:2048 -days 36500 -nodes
/// -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`. Test material only: the key is
/// public, so nothing may trust this certificate outside tests.
public enum FixtureCertificate {
    /// The certificate (PEM); write it to a file and give it as `tls.ca_file` / `--ca-file`.
    public static let certificatePEM = """
-----BEGIN CERTIFICATE-----
MIIDHDCCAgSgAwIBAgIUCZtg9eDHC9ykmqKBiyRGz5agj3wwDQYJKoZIhvcNAQEL
BQAwFDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNDEzMzYzNVoYDzIxMjYx
MDMxMTMzNjM1WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwggEiMA0GCSqGSIb3DQEB
AQUAA4IBDwAwggEKAoIBAQCyXSHXZ98oDMJDX2AZNQ4vJTtdckRN5EHV94r+92ro
o/vLXZ6AZW8VbuwRoQasDIvgmuwDXgRF5r/29ANtbPwTnjT68OQ1IYnz2hWXrKls
8UOh5gCKBDMJ3nAHVx3wXDnHJFTQhgf6SC4TDMpv3REoC+qrpN3x1geoAvttrcZl
ESj4CVBBn0RpJxbk0DQPIpsfpoN9s501tJFYoayYdP7eQxFCDYQVN8vVa03s6q/B
oRtqb20fD5FmRi7K8axZZcX9Zz3TJkSICTtyxN7TzOTQQJkM1ySvqwJJQVXSX0F1
9hekTsj5Z6UCED9ASIgQmJ61G8Wn4sopocLZhAUbzk4DAgMBAAGjZDBiMB0GA1Ud
DgQWBBRWQuJ26VtZWsZx7O5QKXc3A+Wp4DAfBgNVHSMEGDAWgBRWQuJ26VtZWsZx
7O5QKXc3A+Wp4DAPBgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwDQYJ
KoZIhvcNAQELBQADggEBAIVc49sx4w+TbCxtS9irT0KcV1PBGsnG67rkJXHZkY2x
u9MaiyRON1G7bMQxL9wlaRRbhWgcfTpDBA/cOgnVfa+Q0totpCMafiK+hKLITaOL
wx+K2yYEvl5up5RkiuoRLm5zW4xE9LO+czOhC8/EGUzVsyqeeNk++H5uYIICp+Ox
46YPzBkXQkhqAv3SIoXmM9ctcjnwoEkeEp/eiiyv2bTr21AP7DjJkiJtjIMVDIAq
+ReRt5az9zXdPlC97SI8u+TMxCxbWCM/ZZyzeVFobusK5XRwgYm9QPva9+lDBgd4
jpfYE4KepttZt/aOhwvvvrQtOlF9Niv0vFui+xvVZGA=
-----END CERTIFICATE-----
"""

    /// The certificate's private key (PEM, unencrypted).
    public static let privateKeyPEM = """
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCyXSHXZ98oDMJD
X2AZNQ4vJTtdckRN5EHV94r+92roo/vLXZ6AZW8VbuwRoQasDIvgmuwDXgRF5r/2
9ANtbPwTnjT68OQ1IYnz2hWXrKls8UOh5gCKBDMJ3nAHVx3wXDnHJFTQhgf6SC4T
DMpv3REoC+qrpN3x1geoAvttrcZlESj4CVBBn0RpJxbk0DQPIpsfpoN9s501tJFY
oayYdP7eQxFCDYQVN8vVa03s6q/BoRtqb20fD5FmRi7K8axZZcX9Zz3TJkSICTty
xN7TzOTQQJkM1ySvqwJJQVXSX0F19hekTsj5Z6UCED9ASIgQmJ61G8Wn4sopocLZ
hAUbzk4DAgMBAAECggEATxbE3sMMTLH7oew0rHi+JWGZBUKZzwAbwUjWtV/4Y9fy
2qZUlhJkQ1jADMEeOEQH8jw/0u5pbqV3EYX5zxe4XuqUC4Gtb3HDvgFB+dNx/QCu
QKfALXLXPtUHT/ntKJt8czVE9oG4H97Jr2DIkvmvldZS5HFiiM2i73kDDAs2IbHQ
uc9htVtDO7I1ndjnSNHuTb8JQH9BNurw4L6x1U/xbD8VPd21PQGt0FtWwWT5rGnf
9feTNo3E8IAMRHIKlR+ciy8VlJl9n5g8ErDBtvRRKqmkaKTmmROClAFw+E/wnvPi
8LpEP3Sdbh70sVpOFhiMdnxo6rNK/hV4tq9Cog/MoQKBgQDXlDQBRzE6vT8klIFC
ItJ7HaT+a0wn2viqm5rgPmDUO1B+XgHTx9nUTzeLixOqq9TUh/ViDFdUPpDcXTAY
b1NfDpSUnrHcMDc9qCJbxeCpSmyOtM6NENhZp7m8f4BUhUe0HsvcL353Re2ao3Af
g39KfOP1UqubHN88rBuxkFPXTQKBgQDTzpoLGrvoRozqqquTA3QKKdkBbc47H3+c
owZsVGzVyHiRlCLrBOSnn34VOAz6AiOym18ljYx6e8av8c5FlsBRxAxEdr6ZGiNt
kvzSaWGbe7nC7sSOMdCeNHg6D7xHZ4hZ02koZTHUmGaybEwHAqm+pSocmDM453l8
zYbUkpwyjwKBgQCAMtz+SZToBnSPT1TSvJyIpGdi+PHP3bL02hYu9klkzGUg0Myr
YXSTggxZCnrGiurE/JkbFpW0PoSs1ynrzgA5ThVjkD/a3j1riBnuk2z3n4+RCcqv
Lu5J2qlkhDoPiTbL0WiP5xqA2W/j/v+FbhB7fmudju0IEBJdJUhOvrJtHQKBgALw
EajnxQVyvQ+gMGMIoDpn3C+t4zdkt3Nnu3YTMbNBZZK3WEikN7uvdaM7tMpe7znR
997geLtWLipQk0jZz28S5gypDPm4qBcj+8e7WHQ8ohX3E9jZDgizt5sujrD62aRN
T18VEDzfpEUDRYavXcVcKxpcbhFy/HdjrmQSaII3AoGAFXindIc6dORFc+2nEsJ6
udd4ZOhgZLqbeaPtUYhlTmivceiKYA2XrTl0rFmfXUxlZ07HBaFb94Ntap1P2mhY
HuyGe7LlX8J0aP61wett2T9z3BJx3ChAMWSY1C7seqRjDljfeIsz1URnnokGAJek
Xu+/HTzrDOV4nyKAPPg1PcI=
-----END PRIVATE KEY-----
"""
}
