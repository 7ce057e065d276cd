//! How a table is declared: the [`Table`] trait, the column kinds a field may have, and the
//! `table!` macro that turns one declaration into the row type and its [`Table`] impl.
//!
//! A declaration lists the columns once, in file order, as fields of the row type:
//!
//! ```ignore
//! table! {
//!     /// One row of `things`.
//!     #[derive(Clone, Debug, PartialEq)]
//!     pub struct ThingRow in "things" {
//!         /// A doc comment is kept on the field.
//!         name: String,
//!         weight: Option<f64>,
//!         /// At most one dynamic group: one column per name given when writing.
//!         #[dynamic]
//!         extra: Vec<Option<String>>,
//!         run_id: String,
//!     }
//! }
//! ```
//!
//! A field's type is its column's kind ([`Column`]): `String` and `Option<String>` are Utf8,
//! `i64` and `Option<i64>` Int64, `f64` and `Option<f64>` Float64, `bool` Boolean, and
//! `Vec<f64>` a List of Float64; an `Option` is a nullable column, every other kind is not.
//! A `#[dynamic]` field (`Vec<T>` of such a kind) is a group of columns whose names are known
//! only at run time ([`Table::to_batch_with`]); they sit where the field is declared.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use crate::StoreError;

/// One output table, declared once with `table!`: its row type, Arrow schema, encoder and
/// decoder.
pub trait Table: Sized {
    /// The table's directory under the output: "distances".
    const NAME: &'static str;
    /// The declared columns in order, without a dynamic group's columns.
    const COLUMNS: &'static [&'static str];
    /// The field that holds the dynamic group of columns, if the table has one.
    const DYNAMIC: Option<&'static str>;

    /// The schema with the dynamic group's columns named `dynamic`, placed where the group
    /// is declared. A table without a dynamic group has no place for them and leaves them
    /// out ([`Table::to_batch_with`] rejects them).
    fn schema_with(dynamic: &[String]) -> SchemaRef;

    /// The rows as one batch of [`Table::schema_with`]`(dynamic)`. A row's dynamic group
    /// holds its values in the order of `dynamic`; missing trailing values are written as
    /// the kind's default (null, 0.0).
    fn to_batch_with(rows: &[Self], dynamic: &[String]) -> Result<RecordBatch, StoreError>;

    /// The rows of a batch, reading each declared column by name (columns may be in any
    /// order; undeclared ones are ignored, or are the dynamic group when the table has one).
    /// A missing column, one of another type, or a null in a column declared non-nullable
    /// is an error naming the table and the column.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, StoreError>;

    /// The schema with an empty dynamic group.
    fn schema() -> SchemaRef {
        Self::schema_with(&[])
    }

    /// The rows as one batch, with an empty dynamic group.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, StoreError> {
        Self::to_batch_with(rows, &[])
    }

    /// The dynamic group's columns in `schema`: every column that is not declared, in schema
    /// order (none for a table without a dynamic group).
    fn dynamic_columns(schema: &Schema) -> Vec<String> {
        if Self::DYNAMIC.is_none() {
            return Vec::new();
        }
        schema.fields().iter().map(|f| f.name()).filter(|n| !Self::COLUMNS.contains(&n.as_str())).cloned().collect()
    }
}

/// How a field's type is stored as one Arrow column.
pub(crate) trait Column: Sized {
    /// The Arrow array a column of this kind is read from.
    type Array: Array + 'static;
    const NULLABLE: bool;
    fn data_type() -> DataType;
    fn encode<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef
    where
        Self: 'a;
    /// The value at row `i` of an array that passed [`Column::check`].
    fn value(array: &Self::Array, i: usize) -> Self;
    /// What the array's Rust type does not already guarantee.
    fn check(_array: &Self::Array) -> Result<(), String> {
        Ok(())
    }
}

/// A kind `$t` (not null) and `Option<$t>` (nullable), read from `$array` and written with
/// `$builder`: `$get` reads row `$i` of `$a`, `$put` is what `$builder` appends for `&$t`.
macro_rules! scalar {
    ($t:ty, $array:ty, $data_type:expr, $builder:ty, |$a:ident, $i:ident| $get:expr, |$v:ident| $put:expr) => {
        impl Column for $t {
            type Array = $array;
            const NULLABLE: bool = false;
            fn data_type() -> DataType {
                $data_type
            }
            fn encode<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
                let mut b = <$builder>::new();
                for $v in values {
                    b.append_value($put);
                }
                Arc::new(b.finish())
            }
            fn value($a: &$array, $i: usize) -> Self {
                $get
            }
        }

        impl Column for Option<$t> {
            type Array = $array;
            const NULLABLE: bool = true;
            fn data_type() -> DataType {
                $data_type
            }
            fn encode<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
                let mut b = <$builder>::new();
                for v in values {
                    b.append_option(v.as_ref().map(|$v| $put));
                }
                Arc::new(b.finish())
            }
            fn value($a: &$array, $i: usize) -> Self {
                $a.is_valid($i).then(|| $get)
            }
        }
    };
}

scalar!(String, StringArray, DataType::Utf8, StringBuilder, |a, i| a.value(i).to_string(), |v| v.as_str());
scalar!(i64, Int64Array, DataType::Int64, Int64Builder, |a, i| a.value(i), |v| *v);
scalar!(f64, Float64Array, DataType::Float64, Float64Builder, |a, i| a.value(i), |v| *v);
scalar!(bool, BooleanArray, DataType::Boolean, BooleanBuilder, |a, i| a.value(i), |v| *v);

/// A list of numbers in one cell (`embedding_summary.eigenvalues`): List<Float64>, the list
/// not null, its items declared nullable (as Arrow's list builder makes them) but never null.
impl Column for Vec<f64> {
    type Array = ListArray;
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
    }
    fn encode<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        let mut b = ListBuilder::new(Float64Builder::new());
        for v in values {
            b.values().append_slice(v);
            b.append(true);
        }
        Arc::new(b.finish())
    }
    fn value(array: &ListArray, i: usize) -> Self {
        array.value(i).as_primitive::<Float64Type>().values().to_vec()
    }
    fn check(array: &ListArray) -> Result<(), String> {
        match array.values().data_type() {
            DataType::Float64 if array.values().null_count() == 0 => Ok(()),
            DataType::Float64 => Err("has a null number in a list".into()),
            other => Err(format!("is a list of {other}, not of Float64")),
        }
    }
}

/// A `#[dynamic]` field: one value per dynamic column, each of kind `Item`.
pub(crate) trait Group: Sized {
    type Item: Column;
    /// The value for dynamic column `j` (the kind's default past the end).
    fn item(&self, j: usize) -> Self::Item;
    fn from_items(items: Vec<Self::Item>) -> Self;
}

impl<T: Column + Clone + Default> Group for Vec<T> {
    type Item = T;
    fn item(&self, j: usize) -> T {
        self.get(j).cloned().unwrap_or_default()
    }
    fn from_items(items: Vec<T>) -> Self {
        items
    }
}

/// The error for `column` of `table` that `reason` describes.
fn bad_column(table: &str, column: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Arrow { table: table.into(), source: ArrowError::SchemaError(format!("column {column:?} {reason}")) }
}

/// Column `name` of `batch` as kind `C`'s array, checked against the declaration. A
/// nullable column a part does not have (written before the column was declared) is
/// `None`: every row reads null there.
pub(crate) fn column<'a, C: Column>(
    table: &str,
    batch: &'a RecordBatch,
    name: &str,
) -> Result<Option<&'a C::Array>, StoreError> {
    let Some(array) = batch.column_by_name(name) else {
        return if C::NULLABLE { Ok(None) } else { Err(bad_column(table, name, "is missing")) };
    };
    let typed = array
        .as_any()
        .downcast_ref::<C::Array>()
        .ok_or_else(|| bad_column(table, name, format_args!("is {}, not {}", array.data_type(), C::data_type())))?;
    if !C::NULLABLE && typed.null_count() > 0 {
        return Err(bad_column(table, name, "has nulls but is declared not nullable"));
    }
    C::check(typed).map_err(|reason| bad_column(table, name, reason))?;
    Ok(Some(typed))
}

/// The dynamic group's columns of `batch`, in the order of `names`.
pub(crate) fn group<'a, G: Group>(
    table: &str,
    batch: &'a RecordBatch,
    names: &[String],
) -> Result<Vec<&'a <G::Item as Column>::Array>, StoreError> {
    names
        .iter()
        .map(|n| column::<G::Item>(table, batch, n)?.ok_or_else(|| bad_column(table, n, "is missing")))
        .collect()
}

/// Row `i` of the dynamic group's columns `arrays`.
pub(crate) fn group_values<G: Group>(arrays: &[&<G::Item as Column>::Array], i: usize) -> Vec<G::Item> {
    arrays.iter().map(|a| G::Item::value(a, i)).collect()
}

/// Dynamic column `j` of `rows`, the group read by `get`.
pub(crate) fn encode_group<R, G: Group>(rows: &[R], get: impl Fn(&R) -> &G, j: usize) -> ArrayRef {
    let values: Vec<G::Item> = rows.iter().map(|r| get(r).item(j)).collect();
    G::Item::encode(values.iter())
}

/// The field of a dynamic column named `name` of group `G`.
pub(crate) fn group_field<G: Group>(name: &str) -> Field {
    Field::new(name, G::Item::data_type(), G::Item::NULLABLE)
}

/// The batch of `T`'s `columns`, after checking that `dynamic` names are allowed.
pub(crate) fn batch<T: Table>(dynamic: &[String], columns: Vec<ArrayRef>) -> Result<RecordBatch, StoreError> {
    if T::DYNAMIC.is_none() && !dynamic.is_empty() {
        return Err(StoreError::Arrow {
            table: T::NAME.into(),
            source: ArrowError::SchemaError(format!("has no dynamic columns, given {dynamic:?}")),
        });
    }
    RecordBatch::try_new(T::schema_with(dynamic), columns)
        .map_err(|source| StoreError::Arrow { table: T::NAME.into(), source })
}

/// Declares a table once: the row struct (its attributes, e.g. derives, and field docs are
/// kept; every field is `pub`) and its [`Table`] impl. See the module documentation.
macro_rules! table {
    // Every field parsed: the struct and its Table impl.
    (@munch $attrs:tt $row:ident $name:literal $fields:tt [$($c:ident)*] [$($g:ident)*]) => {
        $crate::tables::declare::table!(@emit $attrs $row $name $fields [$($c)*] [$($g)*]);
    };
    // The dynamic group.
    (@munch $attrs:tt $row:ident $name:literal [$($f:tt)*] [$($c:ident)*] [$($g:ident)*]
        $(#[doc = $doc:tt])* #[dynamic] $field:ident : $ty:ty $(, $($rest:tt)*)?) => {
        $crate::tables::declare::table!(@munch $attrs $row $name [$($f)* {group [$($doc)*] $field: $ty}]
            [$($c)*] [$($g)* $field] $($($rest)*)?);
    };
    // One column.
    (@munch $attrs:tt $row:ident $name:literal [$($f:tt)*] [$($c:ident)*] [$($g:ident)*]
        $(#[doc = $doc:tt])* $field:ident : $ty:ty $(, $($rest:tt)*)?) => {
        $crate::tables::declare::table!(@munch $attrs $row $name [$($f)* {column [$($doc)*] $field: $ty}]
            [$($c)* $field] [$($g)*] $($($rest)*)?);
    };

    (@emit [$(#[$attr:meta])*] $row:ident $name:literal
        [$({$kind:ident [$($doc:tt)*] $field:ident : $ty:ty})*] [$($c:ident)*] [$($g:ident)*]) => {
        $(#[$attr])*
        pub struct $row {
            $($(#[doc = $doc])* pub $field: $ty,)*
        }

        impl $crate::tables::Table for $row {
            const NAME: &'static str = $name;
            const COLUMNS: &'static [&'static str] = &[$(stringify!($c)),*];
            const DYNAMIC: Option<&'static str> = $crate::tables::declare::table!(@dynamic $($g)*);

            #[allow(unused_variables)]
            fn schema_with(dynamic: &[String]) -> ::arrow_schema::SchemaRef {
                let mut fields: Vec<::arrow_schema::Field> =
                    Vec::with_capacity(<Self as $crate::tables::Table>::COLUMNS.len() + dynamic.len());
                $($crate::tables::declare::table!(@field $kind $field $ty, dynamic, fields);)*
                ::std::sync::Arc::new(::arrow_schema::Schema::new(fields))
            }

            fn to_batch_with(
                rows: &[Self],
                dynamic: &[String],
            ) -> Result<::arrow_array::RecordBatch, $crate::StoreError> {
                let mut columns: Vec<::arrow_array::ArrayRef> =
                    Vec::with_capacity(<Self as $crate::tables::Table>::COLUMNS.len() + dynamic.len());
                $($crate::tables::declare::table!(@encode $kind $field $ty, rows, dynamic, columns);)*
                $crate::tables::declare::batch::<Self>(dynamic, columns)
            }

            fn from_batch(batch: &::arrow_array::RecordBatch) -> Result<Vec<Self>, $crate::StoreError> {
                #[allow(unused_variables)]
                let dynamic = <Self as $crate::tables::Table>::dynamic_columns(&batch.schema());
                $(let $field = $crate::tables::declare::table!(@array $kind $field $ty, batch, dynamic);)*
                Ok((0..batch.num_rows())
                    .map(|i| $row { $($field: $crate::tables::declare::table!(@value $kind $field $ty, i)),* })
                    .collect())
            }
        }
    };

    (@dynamic) => { None };
    (@dynamic $g:ident) => { Some(stringify!($g)) };
    (@dynamic $($g:ident)+) => { compile_error!("a table has at most one #[dynamic] group") };

    (@field column $field:ident $ty:ty, $dynamic:ident, $fields:ident) => {
        $fields.push(::arrow_schema::Field::new(
            stringify!($field),
            <$ty as $crate::tables::declare::Column>::data_type(),
            <$ty as $crate::tables::declare::Column>::NULLABLE,
        ))
    };
    (@field group $field:ident $ty:ty, $dynamic:ident, $fields:ident) => {
        $fields.extend($dynamic.iter().map(|n| $crate::tables::declare::group_field::<$ty>(n)))
    };

    (@encode column $field:ident $ty:ty, $rows:ident, $dynamic:ident, $columns:ident) => {
        $columns.push(<$ty as $crate::tables::declare::Column>::encode($rows.iter().map(|r| &r.$field)))
    };
    (@encode group $field:ident $ty:ty, $rows:ident, $dynamic:ident, $columns:ident) => {
        $columns.extend(
            (0..$dynamic.len()).map(|j| $crate::tables::declare::encode_group($rows, |r: &Self| &r.$field, j)),
        )
    };

    (@array column $field:ident $ty:ty, $batch:ident, $dynamic:ident) => {
        $crate::tables::declare::column::<$ty>(<Self as $crate::tables::Table>::NAME, $batch, stringify!($field))?
    };
    (@array group $field:ident $ty:ty, $batch:ident, $dynamic:ident) => {
        $crate::tables::declare::group::<$ty>(<Self as $crate::tables::Table>::NAME, $batch, &$dynamic)?
    };

    (@value column $field:ident $ty:ty, $i:ident) => {
        match $field {
            Some(array) => <$ty as $crate::tables::declare::Column>::value(array, $i),
            // only a nullable column may be absent (`column`): its default is null
            None => <$ty as ::std::default::Default>::default(),
        }
    };
    (@value group $field:ident $ty:ty, $i:ident) => {
        <$ty as $crate::tables::declare::Group>::from_items($crate::tables::declare::group_values::<$ty>(&$field, $i))
    };

    // The declaration.
    ($(#[$attr:meta])* pub struct $row:ident in $name:literal { $($body:tt)* }) => {
        $crate::tables::declare::table!(@munch [$(#[$attr])*] $row $name [] [] [] $($body)*);
    };
}
pub(crate) use table;
