//! What a JSON form looks like across its samples: the one inference both bindings' generators
//! render from (TypeScript in `bindings-node/tests/dts.rs`, Python in
//! `bindings-python/tests/stubs.rs`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::lists;

/// A JSON scalar as a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scalar {
    /// `true` or `false`.
    Bool,
    /// A number written without a fraction or exponent (an integer in Rust).
    Int,
    /// A number from an `f64`.
    Float,
    /// A string that no list names.
    Str,
    /// A string that is a name from the list of this name (see [`lists`]).
    Named(&'static str),
}

/// One key of an object: how many of the objects had it, and what it held.
#[derive(Debug, Default)]
pub struct Field {
    /// The key.
    pub key: String,
    /// How many of the objects seen had it.
    pub count: usize,
    /// What it held.
    pub shape: Shape,
}

/// The type of everything one place in a form held across the samples.
#[derive(Debug, Default)]
pub struct Shape {
    /// The scalars seen.
    pub scalars: BTreeSet<Scalar>,
    /// Whether a `null` was seen.
    pub null: bool,
    /// The shape of the items of the arrays seen.
    pub items: Option<Box<Shape>>,
    /// How many objects were seen, and their keys in the order first seen.
    pub objects: Option<(usize, Vec<Field>)>,
}

impl Shape {
    /// The shape of `samples`, all values of one form.
    pub fn of(samples: &[Value]) -> Shape {
        let mut s = Shape::default();
        for v in samples {
            s.add(v);
        }
        s
    }

    fn add(&mut self, v: &Value) {
        match v {
            Value::Null => self.null = true,
            Value::Bool(_) => _ = self.scalars.insert(Scalar::Bool),
            Value::Number(n) => _ = self.scalars.insert(if n.is_f64() { Scalar::Float } else { Scalar::Int }),
            Value::String(s) => _ = self.scalars.insert(string_type(s)),
            Value::Array(a) => {
                let items = self.items.get_or_insert_default();
                for x in a {
                    items.add(x);
                }
            }
            Value::Object(m) => {
                let (seen, fields) = self.objects.get_or_insert_default();
                *seen += 1;
                for (k, x) in m {
                    let i = fields.iter().position(|f| f.key == *k).unwrap_or_else(|| {
                        fields.push(Field { key: k.clone(), ..Field::default() });
                        fields.len() - 1
                    });
                    fields[i].count += 1;
                    fields[i].shape.add(x);
                }
            }
        }
    }

    /// Whether `field` of this object shape was absent from some of the objects.
    pub fn absent_sometimes(&self, field: &Field) -> bool {
        self.objects.as_ref().is_some_and(|(seen, _)| field.count < *seen)
    }

    /// The shape at `path` below this one: `$`, then `.key` for a key and `[]` for the items of
    /// an array, e.g. `$.auth.attempts[]`.
    ///
    /// # Panics
    /// Naming the path, where the samples have nothing there or the path is not of that form.
    pub fn at(&self, path: &str) -> &Shape {
        let mut rest = path.strip_prefix('$').unwrap_or_else(|| panic!("the path `{path}` starts with `$`"));
        let mut here = self;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("[]") {
                here = here.items.as_deref().unwrap_or_else(|| missing(path));
                rest = r;
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                let fields = &here.objects.as_ref().unwrap_or_else(|| missing(path)).1;
                here = &fields.iter().find(|f| f.key == r[..end]).unwrap_or_else(|| missing(path)).shape;
                rest = &r[end..];
            } else {
                panic!("the path `{path}` goes on with `.key` or `[]`");
            }
        }
        here
    }
}

fn missing<T>(path: &str) -> T {
    panic!("no sample has `{path}`")
}

/// [`Scalar::Str`], or the list that names `s`.
fn string_type(s: &str) -> Scalar {
    let hits: Vec<_> = lists().into_iter().filter(|(_, names)| names.contains(&s)).map(|(n, _)| n).collect();
    assert!(hits.len() <= 1, "the sample string `{s}` is in {hits:?}: use one that only one list has");
    hits.first().map_or(Scalar::Str, |n| Scalar::Named(n))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_key_absent_from_one_object_is_counted_and_a_null_is_seen() {
        let s = Shape::of(&[json!({"a": 1, "b": [1.5]}), json!({"a": null, "c": "auth"})]);
        let (seen, fields) = s.objects.as_ref().expect("objects");
        assert_eq!(*seen, 2);
        let keys: Vec<_> = fields.iter().map(|f| (f.key.as_str(), f.count, s.absent_sometimes(f))).collect();
        assert_eq!(keys, [("a", 2, false), ("b", 1, true), ("c", 1, true)]);
        assert!(s.at("$.a").null);
        assert_eq!(s.at("$.a").scalars, BTreeSet::from([Scalar::Int]));
        assert_eq!(s.at("$.b[]").scalars, BTreeSet::from([Scalar::Float]));
        assert_eq!(s.at("$.c").scalars, BTreeSet::from([Scalar::Named("Stage")]));
    }

    #[test]
    #[should_panic(expected = "no sample has `$.a.x`")]
    fn a_path_the_samples_lack_is_named() {
        _ = Shape::of(&[json!({"a": 1})]).at("$.a.x");
    }
}
