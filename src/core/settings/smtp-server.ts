/** A named SMTP server (privacyIDEA /smtpserver/<identifier>). The password is kept sealed. */
export interface SmtpServer {
  identifier: string;
  /** Host name, or smtps://host for implicit TLS. */
  server: string;
  port: number;
  username: string;
  sealedPassword: string;
  sender: string;
  isStartTls: boolean;
  timeoutSeconds: number;
  description: string;
}
