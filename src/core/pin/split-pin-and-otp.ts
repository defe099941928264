export interface PinAndOtp {
  pin: string;
  otp: string;
}

/**
 * privacyIDEA's default `otppin` layout: the PIN comes first, the last `otpLength` characters are the
 * OTP. Returns undefined when `pass` is too short to hold any OTP.
 */
export function splitPinAndOtp(pass: string, otpLength: number): PinAndOtp | undefined {
  if (pass.length < otpLength) return undefined;
  return { pin: pass.slice(0, pass.length - otpLength), otp: pass.slice(pass.length - otpLength) };
}
