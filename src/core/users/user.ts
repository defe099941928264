export interface User {
  /** The user store the user lives in. */
  resolver: string;
  id: string;
  login: string;
  email: string;
  givenname: string;
  surname: string;
  phone: string;
  mobile: string;
}

export type NewUser = Omit<User, 'id'>;
export type UserPatch = Partial<Pick<User, 'email' | 'givenname' | 'surname' | 'phone' | 'mobile'>>;

export interface Realm {
  name: string;
  isDefault: boolean;
  /** Resolver names in lookup order. */
  resolvers: string[];
}

export interface Resolver {
  name: string;
  /** Only the built-in editable store, "local", for now. */
  type: 'local';
}

/** A user as seen through a realm: what tokens and challenges refer to. */
export interface RealmUser {
  user: User;
  realm: string;
}
