/**
 * The one error class of spiffe/: a code per rule of the SPIFFE standards, so a caller knows
 * which rule failed without reading text. Codes follow the conformance vectors' `reason`s
 * (../shared/conformance), upper-cased.
 */
export type SpiffeIdErrorCode =
  | 'EMPTY'                       // the input is empty
  | 'WRONG_SCHEME'                // not "spiffe://" (case-sensitive, as SPIRE)
  | 'MISSING_TRUST_DOMAIN'        // nothing between "spiffe://" and the path
  | 'BAD_TRUST_DOMAIN_CHAR'       // outside [a-z0-9._-]: upper case, %, port, userinfo ...
  | 'TRUST_DOMAIN_TOO_LONG'       // over 255 bytes
  | 'BAD_PATH_SEGMENT_CHAR'       // outside [A-Za-z0-9._-]: %, ?, #, ...
  | 'EMPTY_SEGMENT'               // "//" in the path
  | 'DOT_SEGMENT'                 // a "." or ".." segment
  | 'TRAILING_SLASH'              // the path ends in "/"
  | 'NO_LEADING_SLASH';           // SpiffeId.fromPath: a non-empty path must begin with "/"

export type X509SvidErrorCode =
  | 'NOT_PEM' | 'NO_CERTIFICATES' | 'MALFORMED_CERTIFICATE' | 'NO_PRIVATE_KEY' | 'MALFORMED_KEY' | 'KEY_MISMATCH'
  | 'NO_URI_SAN' | 'MULTIPLE_URI_SANS' | 'BAD_URI_SAN' | 'ROOT_PATH_ID'
  | 'LEAF_IS_CA' | 'LEAF_MISSING_KEY_USAGE' | 'LEAF_MISSING_DIGITAL_SIGNATURE' | 'LEAF_HAS_KEY_CERT_SIGN' | 'LEAF_HAS_CRL_SIGN'
  | 'SIGNING_CERT_NOT_CA' | 'SIGNING_CERT_MISSING_KEY_CERT_SIGN'
  | 'NOT_YET_VALID' | 'EXPIRED' | 'NO_BUNDLE_FOR_TRUST_DOMAIN' | 'UNTRUSTED_CHAIN' | 'BAD_SIGNATURE';

export type JwtSvidErrorCode =
  | 'MALFORMED_TOKEN' | 'UNSUPPORTED_ALG' | 'MISSING_KID' | 'UNKNOWN_KID' | 'BAD_HEADER' | 'BAD_TYP'
  | 'BAD_SIGNATURE' | 'MISSING_SUB' | 'BAD_SUB' | 'MISSING_AUD' | 'AUD_MISMATCH' | 'MISSING_EXP' | 'EXPIRED'
  | 'NOT_YET_VALID' | 'ISSUED_IN_FUTURE' | 'NO_BUNDLE_FOR_TRUST_DOMAIN';

export type BundleErrorCode =
  | 'NOT_PEM' | 'MALFORMED_CERTIFICATE' | 'MALFORMED_DER' | 'MALFORMED_JSON' | 'MISSING_KEYS' | 'MISSING_KID'
  | 'DUPLICATE_KID' | 'BAD_X5C' | 'BAD_KEY' | 'NO_AUTHORITIES' | 'BAD_SEQUENCE' | 'BAD_REFRESH_HINT'
  | 'TRUST_DOMAIN_MISMATCH';  // a SpiffeBundle given an X509Bundle/JwtBundle of another trust domain

export type EndpointErrorCode = 'BAD_ENDPOINT_ADDRESS';

export type SpiffeErrorCode = SpiffeIdErrorCode | X509SvidErrorCode | JwtSvidErrorCode | BundleErrorCode | EndpointErrorCode;

export class SpiffeError extends Error {
  override readonly name = 'SpiffeError';
  readonly code: SpiffeErrorCode;
  constructor(code: SpiffeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
